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
