package netref

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
)

type fastSvc struct{}

type ctxKeyFast struct{}

func (fastSvc) Zero() any                 { return "zero" }
func (fastSvc) One(x any) any             { return x }
func (fastSvc) OneErr(x any) (any, error) { return nil, errors.New("bad " + x.(string)) }
func (fastSvc) Ctx(ctx context.Context, x any) (any, error) {
	return ctx.Value(ctxKeyFast{}), nil
}
func (fastSvc) Two(a, b any) any  { return codec.Tuple{b, a} }
func (fastSvc) Var(xs ...any) any { return int64(len(xs)) }
func (fastSvc) Boom(x any) any    { panic("boom") }
func (fastSvc) Small(x any) any   { return int8(3) }
func (fastSvc) NilPtr(x any) any  { var p *fastSvc; return p }

// Methods of all-any signatures are called without reflect, with the same
// results, errors and argument checks as the reflect path.
func TestFastCall(t *testing.T) {
	o := Wrap(fastSvc{})
	ctx := context.WithValue(context.Background(), ctxKeyFast{}, "ctx-value")
	call := func(name string, args ...any) (any, error) {
		return o.CallAttr(ctx, name, codec.Tuple(args), nil)
	}
	for name, k := range map[string]fastKind{"zero": fast0, "one": fast1, "one_err": fast1E, "ctx": fastCtx1E, "two": fast2, "var": fastVar} {
		require.Equal(t, k, o.(*object).ti.methods[name].fast, name)
	}
	v, err := call("zero")
	require.NoError(t, err)
	require.Equal(t, "zero", v)
	v, err = call("one", int64(7))
	require.NoError(t, err)
	require.Equal(t, int64(7), v)
	_, err = call("one_err", "x")
	require.EqualError(t, err, "bad x")
	v, err = call("ctx", nil)
	require.NoError(t, err)
	require.Equal(t, "ctx-value", v)
	v, err = call("two", "a", "b")
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{"b", "a"}, v)
	v, err = call("var", 1, 2, 3)
	require.NoError(t, err)
	require.Equal(t, int64(3), v)
	v, err = call("nil_ptr", 1)
	require.NoError(t, err)
	require.Nil(t, v)
	v, err = call("small", 1)
	require.NoError(t, err)
	require.Equal(t, int8(3), v)
	_, err = call("boom", 1)
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RuntimeError", pe.Class)
	// Wrong counts and keywords take the reflect path and its TypeErrors.
	_, err = call("one")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "TypeError", pe.Class)
	_, err = o.CallAttr(ctx, "one", nil, []Kwarg{{Name: "x", Value: int64(1)}})
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "TypeError: one() got an unexpected keyword argument 'x'", pe.Error())
}

// fastCounter has pointer-receiver methods, called directly.
type fastCounter struct{ n int64 }

func (c *fastCounter) Incr(by any) any { c.n += by.(int64); return c.n }

// fastNamed is pointer-shaped but not a pointer: its methods take the
// bound-value path.
type fastNamed map[string]any

func (m fastNamed) Get(k any) any { return m[k.(string)] }

// Pointer receivers are called through the method expression, once per
// type; other receivers through a bound method value. Both reach the right
// receiver, and the direct call does not allocate.
func TestFastCallDirect(t *testing.T) {
	ctx := context.Background()
	c1, c2 := &fastCounter{}, &fastCounter{n: 100}
	o1, o2 := Wrap(c1).(*object), Wrap(c2).(*object)
	sig := o1.ti.methods["incr"]
	require.NotNil(t, sig.direct)
	require.Same(t, sig, o2.ti.methods["incr"], "one signature per type")
	for range 3 {
		_, err := o1.CallAttr(ctx, "incr", codec.Tuple{int64(2)}, nil)
		require.NoError(t, err)
	}
	v, err := o2.CallAttr(ctx, "incr", codec.Tuple{int64(1)}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(101), v)
	require.Equal(t, int64(6), c1.n)
	require.Equal(t, int64(101), c2.n)

	// A struct value is wrapped as a pointer to a copy: direct too.
	require.NotNil(t, Wrap(fastSvc{}).(*object).ti.methods["one"].direct)

	m := Wrap(fastNamed{"k": "v"}).(*object)
	require.Nil(t, m.ti.methods["get"].direct)
	v, err = m.CallAttr(ctx, "get", codec.Tuple{"k"}, nil)
	require.NoError(t, err)
	require.Equal(t, "v", v)

	args := codec.Tuple{int64(1)}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := o1.CallAttr(ctx, "incr", args, nil); err != nil {
			t.Fatal(err)
		}
	})
	// The result int64 is boxed once by the method itself (c.n escapes to
	// an interface); the call path adds nothing.
	require.LessOrEqual(t, allocs, 1.0)
}
