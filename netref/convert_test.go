package netref

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
)

type myString string
type myBytes []byte
type myInt int16

func bigPow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func TestConvert(t *testing.T) {
	peer := &fakePeer{}
	px := NewProxy(peer, idList)
	local := &Counter{}
	tests := []struct {
		name string
		v    any
		t    reflect.Type
		want any
	}{
		{"int64→int", int64(5), reflect.TypeFor[int](), 5},
		{"int64→int8", int64(-128), reflect.TypeFor[int8](), int8(-128)},
		{"int64→uint16", int64(65535), reflect.TypeFor[uint16](), uint16(65535)},
		{"big→uint64", new(big.Int).SetUint64(math.MaxUint64), reflect.TypeFor[uint64](), uint64(math.MaxUint64)},
		{"big(fits)→int64", big.NewInt(7), reflect.TypeFor[int64](), int64(7)},
		{"named int", int64(3), reflect.TypeFor[myInt](), myInt(3)},
		{"int→big.Int", int64(3), reflect.TypeFor[big.Int](), *big.NewInt(3)},
		{"int→*big.Int", int64(3), reflect.TypeFor[*big.Int](), big.NewInt(3)},
		{"big→*big.Int", bigPow2(100), reflect.TypeFor[*big.Int](), bigPow2(100)},
		{"float", 1.5, reflect.TypeFor[float64](), 1.5},
		{"int→float", int64(2), reflect.TypeFor[float64](), 2.0},
		{"big→float", bigPow2(70), reflect.TypeFor[float64](), math.Pow(2, 70)},
		{"float→float32", 0.5, reflect.TypeFor[float32](), float32(0.5)},
		{"inf→float32", math.Inf(1), reflect.TypeFor[float32](), float32(math.Inf(1))},
		{"complex", complex(1, 2), reflect.TypeFor[complex128](), complex(1, 2)},
		{"float→complex64", 1.5, reflect.TypeFor[complex64](), complex64(1.5)},
		{"int→complex", int64(1), reflect.TypeFor[complex128](), complex(1, 0)},
		{"bool", true, reflect.TypeFor[bool](), true},
		{"str", "héllo", reflect.TypeFor[string](), "héllo"},
		{"named str", "x", reflect.TypeFor[myString](), myString("x")},
		{"bytes", []byte("ab"), reflect.TypeFor[[]byte](), []byte("ab")},
		{"named bytes", []byte("ab"), reflect.TypeFor[myBytes](), myBytes("ab")},
		{"tuple→[]int", codec.Tuple{int64(1), int64(2)}, reflect.TypeFor[[]int](), []int{1, 2}},
		{"tuple→[]any", codec.Tuple{int64(1), "a"}, reflect.TypeFor[[]any](), []any{int64(1), "a"}},
		{"tuple→Tuple", codec.Tuple{int64(1)}, reflect.TypeFor[codec.Tuple](), codec.Tuple{int64(1)}},
		{"tuple→[2]string", codec.Tuple{"a", "b"}, reflect.TypeFor[[2]string](), [2]string{"a", "b"}},
		{"nested", codec.Tuple{codec.Tuple{int64(1)}, codec.Tuple{}}, reflect.TypeFor[[][]int](), [][]int{{1}, {}}},
		{"frozenset→[]string", codec.FrozenSet{"a"}, reflect.TypeFor[[]string](), []string{"a"}},
		{"slice", codec.Slice{Start: int64(1)}, reflect.TypeFor[codec.Slice](), codec.Slice{Start: int64(1)}},
		{"singleton", codec.Ellipsis, reflect.TypeFor[codec.Singleton](), codec.Ellipsis},
		{"any", codec.Tuple{int64(1)}, reflect.TypeFor[any](), codec.Tuple{int64(1)}},
		{"any proxy", px, reflect.TypeFor[any](), px},
		{"proxy", px, reflect.TypeFor[*Proxy](), px},
		{"None→pointer", nil, reflect.TypeFor[*Counter](), (*Counter)(nil)},
		{"None→any", nil, reflect.TypeFor[any](), nil},
		{"None→map", nil, reflect.TypeFor[map[string]int](), map[string]int(nil)},
		{"local pointer", local, reflect.TypeFor[*Counter](), local},
		{"local via Object", Wrap(local), reflect.TypeFor[*Counter](), local},
		{"local deref", &Point{X: 1}, reflect.TypeFor[Point](), Point{X: 1}},
		{"interface via Object", Wrap(bytes.NewReader(nil)), reflect.TypeFor[io.Reader](), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Convert(tt.v, tt.t)
			require.NoError(t, err)
			require.Equal(t, tt.t, v.Type())
			if tt.name == "interface via Object" {
				require.IsType(t, &bytes.Reader{}, v.Interface())
				return
			}
			require.Equal(t, tt.want, v.Interface())
		})
	}
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		name  string
		v     any
		t     reflect.Type
		class string
		msg   string
	}{
		{"int8 overflow", int64(128), reflect.TypeFor[int8](), "OverflowError", "argument: Python int too large to convert to Go int8"},
		{"int64 overflow", bigPow2(64), reflect.TypeFor[int64](), "OverflowError", "argument: Python int too large to convert to Go int64"},
		{"negative uint", int64(-1), reflect.TypeFor[uint](), "OverflowError", "argument: can't convert negative int to unsigned"},
		{"uint8 overflow", int64(256), reflect.TypeFor[uint8](), "OverflowError", "argument: Python int too large to convert to Go uint8"},
		{"uint64 overflow", bigPow2(64), reflect.TypeFor[uint64](), "OverflowError", "argument: Python int too large to convert to Go uint64"},
		{"float32 overflow", 1e300, reflect.TypeFor[float32](), "OverflowError", "argument: float too large to convert to Go float32"},
		{"huge int→float", new(big.Int).Lsh(big.NewInt(1), 2000), reflect.TypeFor[float64](), "OverflowError", "argument: int too large to convert to float"},
		{"bool→int", true, reflect.TypeFor[int](), "TypeError", "argument must be int, not bool"},
		{"bool→float", false, reflect.TypeFor[float64](), "TypeError", "argument must be float, not bool"},
		{"float→int", 1.0, reflect.TypeFor[int](), "TypeError", "argument: 'float' object cannot be interpreted as an integer"},
		{"str→int", "1", reflect.TypeFor[int](), "TypeError", "argument must be int, not str"},
		{"int→bool", int64(1), reflect.TypeFor[bool](), "TypeError", "argument must be bool, not int"},
		{"bytes→str", []byte("x"), reflect.TypeFor[string](), "TypeError", "argument must be str, not bytes"},
		{"str→bytes", "x", reflect.TypeFor[[]byte](), "TypeError", "argument must be bytes, not str"},
		{"None→int", nil, reflect.TypeFor[int](), "TypeError", "argument must be int, not NoneType"},
		{"None→slice", nil, reflect.TypeFor[[]int](), "TypeError", "argument must be tuple, not NoneType"},
		{"item", codec.Tuple{int64(1), "x"}, reflect.TypeFor[[]int](), "TypeError", "argument item 2 must be int, not str"},
		{"nested item", codec.Tuple{codec.Tuple{"x"}}, reflect.TypeFor[[][]int](), "TypeError", "argument item 1 item 1 must be int, not str"},
		{"array length", codec.Tuple{int64(1)}, reflect.TypeFor[[2]int](), "TypeError", "argument must be a tuple of length 2, not a tuple of length 1"},
		{"proxy→int", NewProxy(&fakePeer{}, idList), reflect.TypeFor[int](), "TypeError", "argument must be int, not list"},
		{"proxy→[]int", NewProxy(&fakePeer{}, idList), reflect.TypeFor[[]int](), "TypeError", "argument must be tuple, not list"},
		{"local→other", &Counter{}, reflect.TypeFor[*Point](), "TypeError", "argument must be Point, not Counter"},
		{"tuple→func", codec.Tuple{}, reflect.TypeFor[func()](), "TypeError", "argument must be callable, not tuple"},
		{"str→proxy", "x", reflect.TypeFor[*Proxy](), "TypeError", "argument must be a remote object, not str"},
		{"int→io.Reader", int64(1), reflect.TypeFor[io.Reader](), "TypeError", "argument must be Reader, not int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert(tt.v, tt.t)
			requirePyError(t, err, tt.class, tt.msg)
		})
	}
}

func TestConvertFuncFromProxy(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{}
	cb := NewProxy(peer, IDPack{Name: "builtins.function", Class: 1, Instance: 2})

	peer.answer = func(h int, args []any) (any, error) { return int64(10), nil }
	v, err := Convert(cb, reflect.TypeFor[func(int, string) (int, error)]())
	require.NoError(t, err)
	f := v.Interface().(func(int, string) (int, error))
	n, err := f(5, "x")
	require.NoError(t, err)
	require.Equal(t, 10, n)
	r := peer.last()
	require.Equal(t, HandleCall, r.handler)
	require.Same(t, cb, r.args[0])
	require.Equal(t, codec.Tuple{5, "x"}, r.args[1])
	require.Equal(t, codec.Tuple{}, r.args[2])

	// ctx first, variadic spread, tuple results.
	peer.answer = func(h int, args []any) (any, error) { return codec.Tuple{int64(1), "a"}, nil }
	v, err = Convert(cb, reflect.TypeFor[func(context.Context, ...any) (int8, string)]())
	require.NoError(t, err)
	a, b := v.Interface().(func(context.Context, ...any) (int8, string))(ctx, 1, 2, 3)
	require.Equal(t, int8(1), a)
	require.Equal(t, "a", b)
	require.Equal(t, codec.Tuple{1, 2, 3}, peer.last().args[1])

	// The remote exception arrives in the error result...
	peer.answer = func(h int, args []any) (any, error) { return nil, codec.NewPyError("ValueError", "bad") }
	_, err = f(1, "")
	requirePyError(t, err, "ValueError", "bad")

	// ...as does a result of the wrong type.
	peer.answer = func(h int, args []any) (any, error) { return "nope", nil }
	_, err = f(1, "")
	requirePyError(t, err, "TypeError", "callback result must be int, not str")

	// Without an error result a failure panics with *CallbackError, which
	// an adapter turns back into the original error.
	peer.answer = func(h int, args []any) (any, error) { return nil, codec.NewPyError("KeyError", "k") }
	v, err = Convert(cb, reflect.TypeFor[func()]())
	require.NoError(t, err)
	require.PanicsWithError(t, "netref: callback failed: KeyError: 'k'", func() { v.Interface().(func())() })

	apply := Wrap(func(fn func(int) int, x int) int { return fn(x) * 2 })
	_, err = apply.Call(ctx, codec.Tuple{cb, int64(1)}, nil)
	requirePyError(t, err, "KeyError", "k")
	peer.answer = func(h int, args []any) (any, error) { return int64(21), nil }
	res, err := apply.Call(ctx, codec.Tuple{cb, int64(1)}, nil)
	require.NoError(t, err)
	require.Equal(t, 42, res)

	// None gives a nil func.
	v, err = Convert(nil, reflect.TypeFor[func()]())
	require.NoError(t, err)
	require.True(t, v.IsNil())
}

func TestConvertFuncFromObject(t *testing.T) {
	double := func(x int) int { return 2 * x }
	o := Wrap(double)
	// The same func type: the original func.
	v, err := Convert(o, reflect.TypeFor[func(int) int]())
	require.NoError(t, err)
	require.Equal(t, 8, v.Interface().(func(int) int)(4))
	// Another func type: a func calling the Object.
	v, err = Convert(o, reflect.TypeFor[func(int64) (int64, error)]())
	require.NoError(t, err)
	n, err := v.Interface().(func(int64) (int64, error))(4)
	require.NoError(t, err)
	require.Equal(t, int64(8), n)
}

func TestConvertArgs(t *testing.T) {
	ctx := context.WithValue(context.Background(), struct{}{}, 1)
	ft := reflect.TypeFor[func(context.Context, int, string, Kwargs, ...float64) int]()
	in, err := ConvertArgs(ctx, ft, codec.Tuple{int64(1), "a", 1.5, int64(2)}, []Kwarg{{"k", true}})
	require.NoError(t, err)
	require.Len(t, in, 5)
	require.Equal(t, ctx, in[0].Interface())
	require.Equal(t, 1, in[1].Interface())
	require.Equal(t, "a", in[2].Interface())
	require.Equal(t, Kwargs{{"k", true}}, in[3].Interface())
	require.Equal(t, []float64{1.5, 2}, in[4].Interface())
	out := reflect.ValueOf(func(context.Context, int, string, Kwargs, ...float64) int { return 7 }).CallSlice(in)
	require.Equal(t, 7, out[0].Interface())

	_, err = ConvertArgs(ctx, ft, codec.Tuple{int64(1)}, nil)
	requirePyError(t, err, "TypeError", "function() missing 1 required positional argument")
	_, err = ConvertArgs(ctx, reflect.TypeFor[func(int)](), codec.Tuple{int64(1)}, []Kwarg{{"x", 1}})
	requirePyError(t, err, "TypeError", "function() got an unexpected keyword argument 'x'")
	_, err = ConvertArgs(ctx, reflect.TypeFor[func(int)](), codec.Tuple{"s"}, nil)
	requirePyError(t, err, "TypeError", "function() argument 1 must be int, not str")
	_, err = ConvertArgs(ctx, reflect.TypeFor[int](), nil, nil)
	require.Error(t, err)
}

func TestPyTypeName(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "NoneType"}, {true, "bool"}, {int64(1), "int"}, {big.NewInt(1), "int"}, {1.0, "float"},
		{complex(1, 1), "complex"}, {"s", "str"}, {[]byte{}, "bytes"}, {codec.Tuple{}, "tuple"},
		{codec.FrozenSet{}, "frozenset"}, {codec.Slice{}, "slice"}, {codec.Ellipsis, "ellipsis"},
		{codec.NotImplemented, "NotImplementedType"}, {NewProxy(&fakePeer{}, idCls), "Thing"},
		{Wrap(&Counter{}), "Counter"}, {map[string]int{}, "dict"}, {[]int{}, "list"}, {func() {}, "function"},
		{&Counter{}, "Counter"}, {Point{}, "Point"}, {make(chan int), "generator"},
	} {
		require.Equal(t, tc.want, PyTypeName(tc.v), "%T", tc.v)
	}
}

func TestTruthy(t *testing.T) {
	for _, v := range []any{nil, false, int64(0), big.NewInt(0), 0.0, "", []byte{}, codec.Tuple{}, codec.FrozenSet{}, 0} {
		require.False(t, Truthy(v), "%#v", v)
	}
	for _, v := range []any{true, int64(-1), bigPow2(80), 0.1, "x", []byte{0}, codec.Tuple{nil}, codec.Ellipsis,
		NewProxy(&fakePeer{}, idList), uint64(1)} {
		require.True(t, Truthy(v), "%#v", v)
	}
}
