package netref

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
)

// requirePyError asserts err is a *codec.PyError of class with message msg
// (its only arg).
func requirePyError(t *testing.T, err error, class, msg string) *codec.PyError {
	t.Helper()
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, class, pe.Class, "error: %v", err)
	if msg != "" {
		require.Equal(t, codec.Tuple{msg}, pe.Args)
	}
	return pe
}

// Counter is a typical exposed Go type.
type Counter struct {
	mu    sync.Mutex
	n     int64
	Label string `rpyc:"label,rw"`
	Step  int    `rpyc:"step"`
	Max   int    `rpyc:",rw"`
	Hide  int    `rpyc:"-"`
	Plain int
	inner int    `rpyc:"inner"`
	Named string `rpyc:"alias"`
}

func (c *Counter) Incr(by int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += by
	return c.n
}

func (c *Counter) IncrBy(ctx context.Context, by int, more ...int) (int64, error) {
	if ctx == nil {
		return 0, errors.New("no ctx")
	}
	total := by
	for _, m := range more {
		total += m
	}
	return c.Incr(int64(total)), nil
}

func (c *Counter) Value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *Counter) Reset()                { c.mu.Lock(); c.n = 0; c.mu.Unlock() }
func (c *Counter) ID() string            { return "c1" }
func (c *Counter) HTTPServer() string    { return "srv" }
func (c *Counter) Fail() error           { return codec.NewPyError("ValueError", "failed") }
func (c *Counter) GoFail() (int, error)  { return 0, fmt.Errorf("plain go error") }
func (c *Counter) Boom() int             { panic("kaboom") }
func (c *Counter) Pair() (int, string)   { return 1, "a" }
func (c *Counter) Opts(kw Kwargs) Kwargs { return kw }
func (c *Counter) Echo(x any) any        { return x }
func (c *Counter) secret() int           { return 42 }
func (c *Counter) String() string        { return fmt.Sprintf("Counter(%d)", c.Value()) }
func (c *Counter) Len() int              { return int(c.Value()) }
func (c *Counter) Equal(other any) bool {
	o, ok := other.(*Counter)
	return ok && o.Value() == c.Value()
}
func (c *Counter) Named2(a, b int) string { return fmt.Sprint(a, "-", b) }

func (c *Counter) RPyCParams() map[string][]string {
	return map[string][]string{
		"Incr":   {"by"},
		"IncrBy": {"by", "more"},
		"Named2": {"a", "b"},
	}
}

var _ = (*Counter).secret

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"IncrBy":       "incr_by",
		"ID":           "id",
		"HTTPServer":   "http_server",
		"GetURLPath":   "get_url_path",
		"Base64Encode": "base64_encode",
		"ToUTF8":       "to_utf8",
		"Value":        "value",
		"V2Thing":      "v2_thing",
		"A":            "a",
		"APIKey":       "api_key",
		"UserID":       "user_id",
		"":             "",
	} {
		require.Equal(t, want, SnakeCase(in), in)
	}
}

func TestWrapStructMethods(t *testing.T) {
	ctx := context.Background()
	c := &Counter{Label: "l", Step: 2}
	o := Wrap(c)
	require.Equal(t, "rpycgo.Counter", o.TypeName())
	require.Same(t, c, Unwrap(o))
	require.Same(t, o, Wrap(o), "an Object wraps to itself")

	v, err := o.CallAttr(ctx, "incr", codec.Tuple{int64(5)}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(5), v)

	// ctx parameter, variadic, (T, error) result.
	v, err = o.CallAttr(ctx, "incr_by", codec.Tuple{int64(1), int64(2), int64(3)}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(11), v)
	v, err = o.CallAttr(ctx, "incr_by", codec.Tuple{int64(1)}, nil)
	require.NoError(t, err, "variadic may be empty")
	require.Equal(t, int64(12), v)

	// () → None
	v, err = o.CallAttr(ctx, "reset", nil, nil)
	require.NoError(t, err)
	require.Nil(t, v)

	for name, want := range map[string]any{"id": "c1", "http_server": "srv", "value": int64(0)} {
		v, err = o.CallAttr(ctx, name, nil, nil)
		require.NoError(t, err, name)
		require.Equal(t, want, v, name)
	}

	// Several results → tuple.
	v, err = o.CallAttr(ctx, "pair", nil, nil)
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{1, "a"}, v)

	// Errors come back as is.
	_, err = o.CallAttr(ctx, "fail", nil, nil)
	requirePyError(t, err, "ValueError", "failed")
	_, err = o.CallAttr(ctx, "go_fail", nil, nil)
	require.EqualError(t, err, "plain go error")

	// A panic becomes RuntimeError.
	_, err = o.CallAttr(ctx, "boom", nil, nil)
	pe := requirePyError(t, err, "RuntimeError", "panic: kaboom")
	require.Contains(t, pe.Traceback, "kaboom")

	// GetAttr of a method is a bound builtins.method.
	m, err := o.GetAttr(ctx, "incr")
	require.NoError(t, err)
	mo := m.(Object)
	require.Equal(t, "builtins.method", mo.TypeName())
	require.Equal(t, []string{"__call__"}, mo.Inspect())
	v, err = mo.Call(ctx, codec.Tuple{int64(4)}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(4), v)
	v, err = mo.CallAttr(ctx, "__call__", codec.Tuple{int64(1)}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	r, err := mo.Repr(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^<bound method Counter\.incr of <rpycgo\.Counter object at 0x[0-9a-f]+>>$`, r)
	name, err := mo.GetAttr(ctx, "__name__")
	require.NoError(t, err)
	require.Equal(t, "incr", name)
	m2, _ := o.GetAttr(ctx, "incr")
	eq, err := mo.Cmp(ctx, m2, "__eq__")
	require.NoError(t, err)
	require.Equal(t, true, eq)
	h1, _ := mo.Hash(ctx)
	h2, _ := m2.(Object).Hash(ctx)
	require.Equal(t, h1, h2)
}

func TestWrapStructDeny(t *testing.T) {
	ctx := context.Background()
	o := Wrap(&Counter{})
	for _, name := range []string{"secret", "__class__", "__dict__", "mu", "n", "plain", "hide", "inner", "Incr",
		"string", "len", "equal", "r_py_c_params", "rpyc_params", "nope", "__call__", "__iter__", "lock"} {
		_, err := o.GetAttr(ctx, name)
		pe := requirePyError(t, err, "AttributeError", "'Counter' object has no attribute '"+name+"'")
		v, ok := pe.Attr("name")
		require.True(t, ok)
		require.Equal(t, name, v)
		_, err = o.CallAttr(ctx, name, nil, nil)
		requirePyError(t, err, "AttributeError", "'Counter' object has no attribute '"+name+"'")
	}
	doc, err := o.GetAttr(ctx, "__doc__")
	require.NoError(t, err)
	require.Nil(t, doc)

	_, err = o.Call(ctx, nil, nil)
	requirePyError(t, err, "TypeError", "'Counter' object is not callable")
}

func TestWrapStructFields(t *testing.T) {
	ctx := context.Background()
	c := &Counter{Label: "l", Step: 2, Max: 9, Named: "n"}
	o := Wrap(c)
	for name, want := range map[string]any{"label": "l", "step": 2, "max": 9, "alias": "n"} {
		v, err := o.GetAttr(ctx, name)
		require.NoError(t, err, name)
		require.Equal(t, want, v, name)
	}
	require.NoError(t, o.SetAttr(ctx, "label", "new"))
	require.Equal(t, "new", c.Label)
	require.NoError(t, o.SetAttr(ctx, "max", int64(3)))
	require.Equal(t, 3, c.Max)

	err := o.SetAttr(ctx, "label", int64(1))
	requirePyError(t, err, "TypeError", "attribute 'label' must be str, not int")
	err = o.SetAttr(ctx, "step", int64(1))
	requirePyError(t, err, "AttributeError", "property 'step' of 'Counter' object has no setter")
	err = o.SetAttr(ctx, "incr", int64(1))
	requirePyError(t, err, "AttributeError", "'Counter' object attribute 'incr' is read-only")
	err = o.SetAttr(ctx, "plain", int64(1))
	requirePyError(t, err, "AttributeError", "'Counter' object has no attribute 'plain'")
	err = o.DelAttr(ctx, "label")
	requirePyError(t, err, "AttributeError", "property 'label' of 'Counter' object has no deleter")
	err = o.DelAttr(ctx, "x")
	requirePyError(t, err, "AttributeError", "'Counter' object has no attribute 'x'")

	dir, err := o.Dir(ctx)
	require.NoError(t, err)
	require.True(t, slices.IsSorted(dir))
	require.Equal(t, []string{"__doc__", "__len__", "alias", "boom", "echo", "fail", "go_fail", "http_server", "id",
		"incr", "incr_by", "label", "max", "named2", "opts", "pair", "reset", "step", "value"}, dir)
}

func TestWrapStructDunders(t *testing.T) {
	ctx := context.Background()
	c := &Counter{}
	o := Wrap(c)
	require.Equal(t, []string{"__len__"}, o.Inspect())
	c.Incr(3)
	v, err := o.CallAttr(ctx, "__len__", nil, nil)
	require.NoError(t, err)
	require.Equal(t, 3, v)
	_, err = o.CallAttr(ctx, "__len__", codec.Tuple{int64(1)}, nil)
	requirePyError(t, err, "TypeError", "Counter.__len__() takes no arguments (1 given)")
	m, err := o.GetAttr(ctx, "__len__")
	require.NoError(t, err)
	require.Equal(t, "builtins.method", m.(Object).TypeName())

	s, err := o.Str(ctx)
	require.NoError(t, err)
	require.Equal(t, "Counter(3)", s)
	r, err := o.Repr(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^<rpycgo\.Counter object at 0x[0-9a-f]+>$`, r)

	// Equal decides ==; other comparisons are NotImplemented.
	eq, err := o.Cmp(ctx, &Counter{n: 3}, "__eq__")
	require.NoError(t, err)
	require.Equal(t, true, eq)
	ne, err := o.Cmp(ctx, Wrap(&Counter{n: 4}), "__ne__")
	require.NoError(t, err)
	require.Equal(t, true, ne)
	lt, err := o.Cmp(ctx, int64(1), "__lt__")
	require.NoError(t, err)
	require.Equal(t, codec.NotImplemented, lt)

	// Identity-based hash, stable.
	h1, err := o.Hash(ctx)
	require.NoError(t, err)
	h2, _ := Wrap(c).Hash(ctx)
	require.Equal(t, h1, h2)
}

// Box has every dunder interface.
type Box struct {
	items map[string]any
	log   []string
}

func (b *Box) Len() int                                        { return len(b.items) }
func (b *Box) Bool() bool                                      { return true }
func (b *Box) PyRepr() string                                  { return "Box()" }
func (b *Box) Hash() int64                                     { return 77 }
func (b *Box) GetItem(ctx context.Context, k any) (any, error) { return b.items[k.(string)], nil }
func (b *Box) SetItem(ctx context.Context, k, v any) error     { b.items[k.(string)] = v; return nil }
func (b *Box) DelItem(ctx context.Context, k any) error        { delete(b.items, k.(string)); return nil }
func (b *Box) Contains(ctx context.Context, x any) (bool, error) {
	_, ok := b.items[x.(string)]
	return ok, nil
}
func (b *Box) Iter() iter.Seq[any] {
	return func(yield func(any) bool) {
		for _, k := range slices.Sorted(maps.Keys(b.items)) {
			if !yield(k) {
				return
			}
		}
	}
}
func (b *Box) Enter(ctx context.Context) (any, error) { b.log = append(b.log, "enter"); return b, nil }
func (b *Box) Exit(ctx context.Context, exc any) (bool, error) {
	b.log = append(b.log, fmt.Sprint("exit ", exc))
	return true, nil
}
func (b *Box) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return codec.Tuple{args, int64(len(kwargs))}, nil
}

func TestWrapAllDunders(t *testing.T) {
	ctx := context.Background()
	b := &Box{items: map[string]any{"a": int64(1)}}
	o := Wrap(b)
	require.Equal(t, "rpycgo.Box", o.TypeName())
	require.Equal(t, []string{"__bool__", "__call__", "__contains__", "__delitem__", "__enter__", "__exit__",
		"__getitem__", "__iter__", "__len__", "__setitem__"}, o.Inspect())

	call := func(name string, args ...any) any {
		t.Helper()
		v, err := o.CallAttr(ctx, name, codec.Tuple(args), nil)
		require.NoError(t, err, name)
		return v
	}
	require.Equal(t, true, call("__bool__"))
	require.Equal(t, int64(1), call("__getitem__", "a"))
	call("__setitem__", "b", int64(2))
	require.Equal(t, true, call("__contains__", "b"))
	require.Equal(t, 2, call("__len__"))
	call("__delitem__", "b")
	require.Equal(t, false, call("__contains__", "b"))
	require.Equal(t, o.(*object).iv, call("__enter__"))
	require.Equal(t, true, call("__exit__", nil))
	require.Equal(t, []string{"enter", "exit <nil>"}, b.log)

	// __iter__ gives a generator.
	b.items["c"] = int64(3)
	g := call("__iter__").(Object)
	require.Equal(t, "builtins.generator", g.TypeName())
	require.Equal(t, []any{"a", "c"}, drain(t, g))

	v, err := o.Call(ctx, codec.Tuple{int64(1)}, []Kwarg{{"k", int64(2)}})
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{codec.Tuple{int64(1)}, int64(1)}, v)
	v = call("__call__", int64(5))
	require.Equal(t, codec.Tuple{codec.Tuple{int64(5)}, int64(0)}, v)

	r, _ := o.Repr(ctx)
	require.Equal(t, "Box()", r)
	s, _ := o.Str(ctx)
	require.Equal(t, "Box()", s, "str falls back to repr")
	h, _ := o.Hash(ctx)
	require.Equal(t, int64(77), h)
	eq, _ := o.Cmp(ctx, o, "__eq__")
	require.Equal(t, true, eq)
	eq, _ = o.Cmp(ctx, b, "__eq__")
	require.Equal(t, true, eq, "the Go value itself is the same object")
	eq, _ = o.Cmp(ctx, &Box{}, "__eq__")
	require.Equal(t, false, eq)

	// Go-peer style CALLATTR of Python's local dunders.
	v = call("__repr__")
	require.Equal(t, "Box()", v)
	v = call("__hash__")
	require.Equal(t, int64(77), v)
}

// drain runs __next__ on a generator until StopIteration.
func drain(t *testing.T, g Object) []any {
	t.Helper()
	ctx := context.Background()
	it, err := g.CallAttr(ctx, "__iter__", nil, nil)
	require.NoError(t, err)
	require.Same(t, g, it, "a generator is its own iterator")
	var out []any
	for range 1000 {
		v, err := g.CallAttr(ctx, "__next__", nil, nil)
		if errors.Is(err, codec.ErrStopIteration) {
			// Further calls keep raising StopIteration.
			_, err = g.CallAttr(ctx, "__next__", nil, nil)
			require.ErrorIs(t, err, codec.ErrStopIteration)
			return out
		}
		require.NoError(t, err)
		out = append(out, v)
	}
	t.Fatal("generator did not stop")
	return nil
}

// Point is a struct value with value and pointer methods.
type Point struct {
	X int `rpyc:"x,rw"`
	Y int `rpyc:"y"`
}

func (p Point) Sum() int     { return p.X + p.Y }
func (p *Point) Move(dx int) { p.X += dx }

func TestWrapStructValue(t *testing.T) {
	ctx := context.Background()
	pt := Point{X: 1, Y: 2}
	o := Wrap(pt)
	require.Equal(t, "rpycgo.Point", o.TypeName())
	require.Equal(t, pt, Unwrap(o))
	_, err := o.CallAttr(ctx, "move", codec.Tuple{int64(10)}, nil)
	require.NoError(t, err, "pointer methods work on the copy")
	v, err := o.CallAttr(ctx, "sum", nil, nil)
	require.NoError(t, err)
	require.Equal(t, 13, v)
	require.Equal(t, 1, pt.X, "the original is not modified")
	require.NoError(t, o.SetAttr(ctx, "x", int64(0)))
	v, _ = o.GetAttr(ctx, "x")
	require.Equal(t, 0, v)
	eq, _ := o.Cmp(ctx, pt, "__eq__")
	require.Equal(t, true, eq, "equal to the value it was made from")
}

// Temp is a named non-struct type with methods.
type Temp float64

func (t Temp) Kelvin() float64 { return float64(t) + 273.15 }

func TestWrapNamedType(t *testing.T) {
	ctx := context.Background()
	o := Wrap(Temp(10))
	require.Equal(t, "rpycgo.Temp", o.TypeName())
	v, err := o.CallAttr(ctx, "kelvin", nil, nil)
	require.NoError(t, err)
	require.InDelta(t, 283.15, v, 1e-9)
	r, _ := o.Str(ctx)
	require.Regexp(t, `^<rpycgo\.Temp object at 0x[0-9a-f]+>$`, r)

	// Anonymous structs and nil.
	require.Equal(t, "rpycgo.object", Wrap(&struct{ A int }{}).TypeName())
	n := Wrap(nil)
	require.Equal(t, "builtins.object", n.TypeName())
	_, err = n.GetAttr(ctx, "x")
	requirePyError(t, err, "AttributeError", "'object' object has no attribute 'x'")
}

// Locked embeds a mutex: its methods must not leak.
type Locked struct {
	sync.Mutex
	V int `rpyc:"v"`
}

func (l *Locked) Get() int { return l.V }

func TestWrapHidesLocker(t *testing.T) {
	ctx := context.Background()
	o := Wrap(&Locked{V: 1})
	for _, name := range []string{"lock", "unlock", "try_lock"} {
		_, err := o.CallAttr(ctx, name, nil, nil)
		requirePyError(t, err, "AttributeError", "")
	}
	dir, _ := o.Dir(ctx)
	require.Equal(t, []string{"__doc__", "get", "v"}, dir)
}

func TestWrapKwargs(t *testing.T) {
	ctx := context.Background()
	o := Wrap(&Counter{})
	call := func(name string, args codec.Tuple, kw ...Kwarg) (any, error) {
		return o.CallAttr(ctx, name, args, kw)
	}

	v, err := call("incr", nil, Kwarg{"by", int64(4)})
	require.NoError(t, err)
	require.Equal(t, int64(4), v)
	v, err = call("named2", codec.Tuple{int64(1)}, Kwarg{"b", int64(2)})
	require.NoError(t, err)
	require.Equal(t, "1-2", v)
	v, err = call("named2", nil, Kwarg{"b", int64(2)}, Kwarg{"a", int64(1)})
	require.NoError(t, err)
	require.Equal(t, "1-2", v)
	// A named variadic takes one keyword value.
	v, err = call("incr_by", codec.Tuple{int64(1)}, Kwarg{"more", int64(10)})
	require.NoError(t, err)
	require.Equal(t, int64(15), v)

	_, err = call("incr", nil, Kwarg{"x", int64(1)})
	requirePyError(t, err, "TypeError", "incr() got an unexpected keyword argument 'x'")
	_, err = call("incr", codec.Tuple{int64(1)}, Kwarg{"by", int64(1)})
	requirePyError(t, err, "TypeError", "incr() got multiple values for argument 'by'")
	_, err = call("incr", codec.Tuple{int64(1), int64(2)})
	requirePyError(t, err, "TypeError", "incr() takes 1 positional argument but 2 were given")
	_, err = call("value", codec.Tuple{int64(1)})
	requirePyError(t, err, "TypeError", "value() takes 0 positional arguments but 1 was given")
	_, err = call("incr", nil)
	requirePyError(t, err, "TypeError", "incr() missing 1 required positional argument: 'by'")
	_, err = call("named2", nil)
	requirePyError(t, err, "TypeError", "named2() missing 2 required positional arguments: 'a' and 'b'")
	_, err = call("echo", nil)
	requirePyError(t, err, "TypeError", "echo() missing 1 required positional argument")
	_, err = call("incr", codec.Tuple{"x"})
	requirePyError(t, err, "TypeError", "incr() argument 1 must be int, not str")
	_, err = call("incr", nil, Kwarg{"by", 1.5})
	requirePyError(t, err, "TypeError", "incr() argument 'by': 'float' object cannot be interpreted as an integer")

	// Kwargs collects **kwargs in order.
	v, err = call("opts", nil, Kwarg{"z", int64(1)}, Kwarg{"a", "x"})
	require.NoError(t, err)
	require.Equal(t, Kwargs{{"z", int64(1)}, {"a", "x"}}, v)
	v, err = call("opts", nil)
	require.NoError(t, err)
	require.Nil(t, v)
}

func TestWrapFunc(t *testing.T) {
	ctx := context.Background()
	add := func(a, b int) int { return a + b }
	o := Wrap(add)
	require.Equal(t, "builtins.function", o.TypeName())
	require.Equal(t, []string{"__call__"}, o.Inspect())
	v, err := o.Call(ctx, codec.Tuple{int64(2), int64(3)}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, v)
	v, err = o.CallAttr(ctx, "__call__", codec.Tuple{int64(2), int64(3)}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, v)
	_, err = o.Call(ctx, codec.Tuple{int64(2)}, nil)
	requirePyError(t, err, "TypeError", "")
	_, err = o.GetAttr(ctx, "x")
	requirePyError(t, err, "AttributeError", "'function' object has no attribute 'x'")
	r, _ := o.Repr(ctx)
	require.Regexp(t, `^<function \w+ at 0x[0-9a-f]+>$`, r)

	named := WrapFunc("echo", func(ctx context.Context, x any, kw Kwargs) (any, error) {
		require.NotNil(t, ctx)
		if len(kw) > 0 {
			return codec.Tuple{x, kw[0].Name}, nil
		}
		return x, nil
	}, "x")
	v, err = named.Call(ctx, nil, []Kwarg{{"x", "hi"}})
	require.NoError(t, err)
	require.Equal(t, "hi", v)
	v, err = named.Call(ctx, codec.Tuple{int64(1)}, []Kwarg{{"extra", true}})
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{int64(1), "extra"}, v)
	_, err = named.Call(ctx, codec.Tuple{int64(1), int64(2)}, nil)
	requirePyError(t, err, "TypeError", "echo() takes 1 positional argument but 2 were given")
	n, _ := named.GetAttr(ctx, "__name__")
	require.Equal(t, "echo", n)

	// Error-only and no results.
	v, err = Wrap(func() error { return nil }).Call(ctx, nil, nil)
	require.NoError(t, err)
	require.Nil(t, v)
	_, err = Wrap(func() error { return codec.NewPyError("KeyError", "k") }).Call(ctx, nil, nil)
	requirePyError(t, err, "KeyError", "k")
	_, err = Wrap(func() { panic(errors.New("oops")) }).Call(ctx, nil, nil)
	requirePyError(t, err, "RuntimeError", "panic: oops")

	// Nil pointer results are None; named basic types are plain values.
	type celsius float64
	v, _ = Wrap(func() *Counter { return nil }).Call(ctx, nil, nil)
	require.Nil(t, v)
	v, _ = Wrap(func() celsius { return 1.5 }).Call(ctx, nil, nil)
	require.Equal(t, 1.5, v)
}

func TestFuncName(t *testing.T) {
	o := Wrap(TestFuncName).(*function)
	require.Equal(t, "test_func_name", o.sig.name)
}

func TestWrapMap(t *testing.T) {
	ctx := context.Background()
	m := map[string]int{"b": 2, "a": 1, "c": 3}
	o := Wrap(m)
	require.Equal(t, "builtins.dict", o.TypeName())
	call := func(name string, args ...any) (any, error) { return o.CallAttr(ctx, name, codec.Tuple(args), nil) }

	v, err := call("__getitem__", "a")
	require.NoError(t, err)
	require.Equal(t, 1, v)
	_, err = call("__getitem__", "z")
	pe := requirePyError(t, err, "KeyError", "")
	require.Equal(t, codec.Tuple{"z"}, pe.Args)
	_, err = call("__getitem__", int64(1))
	requirePyError(t, err, "KeyError", "")
	v, _ = call("__len__")
	require.Equal(t, 3, v)
	v, _ = call("__contains__", "a")
	require.Equal(t, true, v)
	v, _ = call("__contains__", "z")
	require.Equal(t, false, v)
	v, _ = call("keys")
	require.Equal(t, codec.Tuple{"a", "b", "c"}, v)
	v, _ = call("values")
	require.Equal(t, codec.Tuple{1, 2, 3}, v)
	v, _ = call("items")
	require.Equal(t, codec.Tuple{codec.Tuple{"a", 1}, codec.Tuple{"b", 2}, codec.Tuple{"c", 3}}, v)
	v, _ = call("get", "z")
	require.Nil(t, v)
	v, _ = call("get", "z", int64(0))
	require.Equal(t, int64(0), v)
	v, _ = call("get", "b", int64(0))
	require.Equal(t, 2, v)
	_, err = o.CallAttr(ctx, "get", codec.Tuple{"a"}, []Kwarg{{"default", 1}})
	requirePyError(t, err, "TypeError", "dict.get() takes no keyword arguments")
	_, err = call("get")
	requirePyError(t, err, "TypeError", "get expected at least 1 argument, got 0")

	g, err := call("__iter__")
	require.NoError(t, err)
	require.Equal(t, []any{"a", "b", "c"}, drain(t, g.(Object)))

	_, err = call("__setitem__", "a", int64(1))
	requirePyError(t, err, "TypeError", "'dict' object does not support item assignment")
	_, err = call("pop", "a")
	requirePyError(t, err, "AttributeError", "'dict' object has no attribute 'pop'")
	err = o.SetAttr(ctx, "keys", nil)
	requirePyError(t, err, "AttributeError", "'dict' object attribute 'keys' is read-only")

	km, err := o.GetAttr(ctx, "keys")
	require.NoError(t, err)
	v, err = km.(Object).Call(ctx, nil, nil)
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{"a", "b", "c"}, v)

	r, _ := o.Repr(ctx)
	require.Equal(t, "{'a': 1, 'b': 2, 'c': 3}", r)
	_, err = o.Hash(ctx)
	requirePyError(t, err, "TypeError", "unhashable type: 'dict'")
	eq, _ := o.Cmp(ctx, m, "__eq__")
	require.Equal(t, true, eq)
	eq, _ = o.Cmp(ctx, map[string]int{"a": 1}, "__eq__")
	require.Equal(t, false, eq)
	eq, _ = o.Cmp(ctx, int64(1), "__eq__")
	require.Equal(t, codec.NotImplemented, eq)

	// Ordered int keys; unhashable keys in map[any] are missing, not a panic.
	oi := Wrap(map[int]string{3: "c", 1: "a", 2: "b"})
	v, _ = oi.CallAttr(ctx, "keys", nil, nil)
	require.Equal(t, codec.Tuple{1, 2, 3}, v)
	v, err = oi.CallAttr(ctx, "__getitem__", codec.Tuple{int64(2)}, nil)
	require.NoError(t, err)
	require.Equal(t, "b", v)
	oa := Wrap(map[any]int{"x": 1})
	_, err = oa.CallAttr(ctx, "__getitem__", codec.Tuple{codec.Tuple{int64(1)}}, nil)
	requirePyError(t, err, "KeyError", "")
}

func TestWrapSlice(t *testing.T) {
	ctx := context.Background()
	s := []int{10, 20, 30, 20}
	o := Wrap(s)
	require.Equal(t, "builtins.list", o.TypeName())
	call := func(name string, args ...any) (any, error) { return o.CallAttr(ctx, name, codec.Tuple(args), nil) }
	v, _ := call("__len__")
	require.Equal(t, 4, v)
	v, _ = call("__getitem__", int64(-1))
	require.Equal(t, 20, v)
	v, _ = call("__getitem__", int64(0))
	require.Equal(t, 10, v)
	_, err := call("__getitem__", int64(4))
	requirePyError(t, err, "IndexError", "list index out of range")
	_, err = call("__getitem__", int64(-5))
	requirePyError(t, err, "IndexError", "list index out of range")
	_, err = call("__getitem__", "a")
	requirePyError(t, err, "TypeError", "list indices must be integers or slices, not str")
	for _, tc := range []struct {
		s    codec.Slice
		want codec.Tuple
	}{
		{codec.Slice{Start: int64(1), Stop: int64(3)}, codec.Tuple{20, 30}},
		{codec.Slice{}, codec.Tuple{10, 20, 30, 20}},
		{codec.Slice{Step: int64(-1)}, codec.Tuple{20, 30, 20, 10}},
		{codec.Slice{Start: int64(-2)}, codec.Tuple{30, 20}},
		{codec.Slice{Start: int64(0), Stop: int64(100), Step: int64(2)}, codec.Tuple{10, 30}},
		{codec.Slice{Start: int64(5), Stop: int64(9)}, codec.Tuple{}},
		{codec.Slice{Start: int64(3), Stop: int64(0), Step: int64(-2)}, codec.Tuple{20, 20}},
	} {
		v, err := call("__getitem__", tc.s)
		require.NoError(t, err)
		require.Equal(t, tc.want, v, "%+v", tc.s)
	}
	_, err = call("__getitem__", codec.Slice{Step: int64(0)})
	requirePyError(t, err, "ValueError", "slice step cannot be zero")

	v, _ = call("__contains__", int64(30))
	require.Equal(t, true, v)
	v, _ = call("__contains__", 30.0)
	require.Equal(t, true, v, "30 == 30.0")
	v, _ = call("__contains__", "30")
	require.Equal(t, false, v)
	v, _ = call("count", int64(20))
	require.Equal(t, 2, v)
	v, _ = call("index", int64(20))
	require.Equal(t, 1, v)
	v, _ = call("index", int64(20), int64(2))
	require.Equal(t, 3, v)
	_, err = call("index", int64(99))
	requirePyError(t, err, "ValueError", "99 is not in list")

	g, _ := call("__iter__")
	require.Equal(t, []any{10, 20, 30, 20}, drain(t, g.(Object)))
	g, _ = call("__reversed__")
	require.Equal(t, []any{20, 30, 20, 10}, drain(t, g.(Object)))
	_, err = call("__setitem__", int64(0), int64(1))
	requirePyError(t, err, "TypeError", "'list' object does not support item assignment")
	_, err = call("append", int64(1))
	requirePyError(t, err, "AttributeError", "'list' object has no attribute 'append'")
	r, _ := o.Repr(ctx)
	require.Equal(t, "[10, 20, 30, 20]", r)

	// Arrays and nested sequences.
	oa := Wrap([2][]string{{"a"}, {"b", "c"}})
	v, _ = oa.CallAttr(ctx, "__contains__", codec.Tuple{codec.Tuple{"b", "c"}}, nil)
	require.Equal(t, true, v)
}

func TestWrapSeq(t *testing.T) {
	ctx := context.Background()
	seq := slices.Values([]string{"x", "y"})
	o := Wrap(seq)
	require.Equal(t, "builtins.generator", o.TypeName())
	require.Equal(t, []string{"__iter__", "__next__"}, o.Inspect())
	require.Equal(t, []any{"x", "y"}, drain(t, o))

	o2 := Wrap(maps.All(map[string]int{"k": 1}))
	require.Equal(t, []any{codec.Tuple{"k", 1}}, drain(t, o2))

	o3 := Wrap(iter.Seq[any](func(yield func(any) bool) { _ = yield(int64(1)) && yield(int64(2)) }))
	require.Equal(t, []any{int64(1), int64(2)}, drain(t, o3))

	// Closing early stops the pull; a panic in the sequence is an error.
	stopped := make(chan struct{})
	o4 := Wrap(func(yield func(int) bool) {
		defer close(stopped)
		for i := 0; ; i++ {
			if !yield(i) {
				return
			}
		}
	})
	v, err := o4.CallAttr(ctx, "__next__", nil, nil)
	require.NoError(t, err)
	require.Equal(t, 0, v)
	_, err = o4.CallAttr(ctx, "close", nil, nil)
	require.NoError(t, err)
	<-stopped
	_, err = o4.CallAttr(ctx, "__next__", nil, nil)
	require.ErrorIs(t, err, codec.ErrStopIteration)

	o5 := Wrap(func(yield func(int) bool) { panic("seq broke") })
	_, err = o5.CallAttr(ctx, "__next__", nil, nil)
	requirePyError(t, err, "RuntimeError", "panic: seq broke")
	_, err = o5.CallAttr(ctx, "__next__", nil, nil)
	require.ErrorIs(t, err, codec.ErrStopIteration)

	_, err = o.Call(ctx, nil, nil)
	requirePyError(t, err, "TypeError", "'generator' object is not callable")
	_, err = o.GetAttr(ctx, "gi_frame")
	requirePyError(t, err, "AttributeError", "'generator' object has no attribute 'gi_frame'")
}

// countdown is an Iterator that is also a Closer.
type countdown struct {
	n      int
	closed int
}

func (c *countdown) Next(ctx context.Context) (any, bool, error) {
	if c.n == 0 {
		return nil, false, nil
	}
	c.n--
	return c.n, true, nil
}

func (c *countdown) Close() error { c.closed++; return nil }

func TestWrapIterator(t *testing.T) {
	c := &countdown{n: 3}
	o := Wrap(c)
	require.Equal(t, "builtins.generator", o.TypeName())
	require.Equal(t, []any{2, 1, 0}, drain(t, o))
	require.Equal(t, 1, c.closed)
	require.Same(t, c, Unwrap(o))

	ch := make(chan int, 2)
	ch <- 1
	ch <- 2
	close(ch)
	require.Equal(t, []any{1, 2}, drain(t, Wrap((<-chan int)(ch))))

	// A __next__ on an empty channel waits as long as ctx allows.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Wrap(make(chan int)).CallAttr(ctx, "__next__", nil, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestWrapConcurrent(t *testing.T) {
	ctx := context.Background()
	c := &Counter{}
	o := Wrap(c)
	g := Wrap(slices.Values(make([]int, 1000)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, err := o.CallAttr(ctx, "incr", codec.Tuple{int64(1)}, nil)
				require.NoError(t, err)
				_, _ = g.CallAttr(ctx, "__next__", nil, nil)
				_ = Wrap(&Counter{}).TypeName()
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(800), c.Value())
	_, err := g.CallAttr(ctx, "__next__", nil, nil)
	require.NoError(t, err, "200 items left")
}

// Account has properties.
type Account struct {
	Owner   string `rpyc:"owner"`
	balance int64
	getter  func() int
}

func (a *Account) Balance() int64                         { return a.balance }
func (a *Account) Limit(ctx context.Context) (int, error) { return 100, nil }
func (a *Account) Deposit(n int64) int64                  { a.balance += n; return a.balance }
func (a *Account) Getter() func() int                     { return a.getter }
func (a *Account) RPyCProperties() []string {
	return []string{"Balance", "Limit", "Deposit", "Getter"}
}

func TestWrapProperties(t *testing.T) {
	ctx := context.Background()
	a := &Account{Owner: "bob", balance: 5, getter: func() int { return 9 }}
	o := Wrap(a)
	v, err := o.GetAttr(ctx, "balance")
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	v, err = o.GetAttr(ctx, "limit")
	require.NoError(t, err)
	require.Equal(t, 100, v)

	// Deposit takes an argument: it stays a method.
	m, err := o.GetAttr(ctx, "deposit")
	require.NoError(t, err)
	require.Equal(t, "builtins.method", m.(Object).TypeName())

	// CALLATTR reads the attribute and calls it, as Python does.
	_, err = o.CallAttr(ctx, "balance", nil, nil)
	requirePyError(t, err, "TypeError", "'int' object is not callable")
	_, err = o.CallAttr(ctx, "owner", nil, nil)
	requirePyError(t, err, "TypeError", "'str' object is not callable")
	v, err = o.CallAttr(ctx, "getter", nil, nil)
	require.NoError(t, err)
	require.Equal(t, 9, v)

	err = o.SetAttr(ctx, "balance", int64(1))
	requirePyError(t, err, "AttributeError", "property 'balance' of 'Account' object has no setter")
	err = o.DelAttr(ctx, "balance")
	requirePyError(t, err, "AttributeError", "property 'balance' of 'Account' object has no deleter")
	_, err = o.GetAttr(ctx, "r_py_c_properties")
	requirePyError(t, err, "AttributeError", "")

	dir, _ := o.Dir(ctx)
	require.Equal(t, []string{"__doc__", "balance", "deposit", "getter", "limit", "owner"}, dir)
}
