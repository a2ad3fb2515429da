package netref

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
)

// Types Convert treats specially.
var (
	typeError   = reflect.TypeFor[error]()
	typeContext = reflect.TypeFor[context.Context]()
	typeKwargs  = reflect.TypeFor[Kwargs]()
	typeBigInt  = reflect.TypeFor[big.Int]()
	typeBigIntP = reflect.TypeFor[*big.Int]()
	typeProxy   = reflect.TypeFor[*Proxy]()
	typeSingle  = reflect.TypeFor[codec.Singleton]()
	typePySlice = reflect.TypeFor[codec.Slice]()
	typeFrozen  = reflect.TypeFor[codec.FrozenSet]()
)

// convError is a failed conversion before it is worded for its position.
type convError struct {
	class string // "TypeError" or "OverflowError"
	want  string // for a type mismatch: the Python type expected
	got   string // for a type mismatch: the Python type of the value
	msg   string // otherwise: the message
	path  string // " item 2" for nested values
}

func mismatch(t reflect.Type, v any) *convError {
	return &convError{class: "TypeError", want: pyTypeOf(t), got: PyTypeName(v)}
}

func overflow(format string, a ...any) *convError {
	return &convError{class: "OverflowError", msg: fmt.Sprintf(format, a...)}
}

// pyError words the failure for the argument described by where
// ("argument", "echo() argument 2", "incr() argument 'by'").
func (e *convError) pyError(where string) *codec.PyError {
	if e.want != "" {
		return codec.Errorf(e.class, "%s%s must be %s, not %s", where, e.path, e.want, e.got)
	}
	return codec.Errorf(e.class, "%s%s: %s", where, e.path, e.msg)
}

func (e *convError) in(path string) *convError {
	e.path = path + e.path
	return e
}

// Convert converts a decoded value to the Go type t, as when it is passed
// to a parameter of that type. The value is one of the value model (nil,
// bool, int64, *big.Int, float64, complex128, string, []byte, codec.Tuple,
// codec.FrozenSet, codec.Slice, codec.Singleton), a *Proxy, or a local Go
// value (or Object) the peer handed back by reference. The rules:
//
//   - interface types (any, error, io.Reader...) take the value as is when
//     it implements them (an Object is unwrapped first if needed);
//   - int kinds take Python ints (not bools, not floats) and fail with
//     OverflowError when the value does not fit; big.Int and *big.Int take
//     any int;
//   - float kinds take floats and ints; complex kinds take complex, floats
//     and ints;
//   - bool takes only bool, string only str, []byte only bytes (shared, not
//     copied: the connection hands over values it no longer needs);
//   - slices and arrays take tuples (and frozensets), converted item by
//     item; an array needs exactly its length;
//   - pointer, interface, func and map types take None as nil;
//   - func types take a *Proxy (a Python callable) or an Object: the result
//     is a Go func that calls it (see the package documentation on
//     callbacks);
//   - any type takes a local Go value assignable to it; a *T is
//     dereferenced for a T parameter.
//
// A mismatch is a *codec.PyError TypeError ("argument must be int, not
// str"); an int out of range an OverflowError.
func Convert(v any, t reflect.Type) (reflect.Value, error) {
	dst := reflect.New(t).Elem()
	if err := convertInto(dst, v); err != nil {
		return reflect.Value{}, err.pyError("argument")
	}
	return dst, nil
}

// convertInto stores v, converted, into the settable dst.
func convertInto(dst reflect.Value, v any) *convError {
	t := dst.Type()
	if v == nil {
		switch t.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Func, reflect.Map:
			dst.SetZero()
			return nil
		}
		return mismatch(t, v)
	}
	vt := reflect.TypeOf(v)
	if vt == t {
		dst.Set(reflect.ValueOf(v))
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		if vt.Implements(t) {
			dst.Set(reflect.ValueOf(v))
			return nil
		}
		return convertLocal(dst, v)
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			dst.SetBool(b)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return convertInt(dst, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return convertUint(dst, v)
	case reflect.Float32, reflect.Float64:
		return convertFloat(dst, v)
	case reflect.Complex64, reflect.Complex128:
		return convertComplex(dst, v)
	case reflect.String:
		if s, ok := v.(string); ok {
			dst.SetString(s)
			return nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if b, ok := v.([]byte); ok {
				dst.SetBytes(b)
				return nil
			}
			break
		}
		if items, ok := sequenceItems(v); ok {
			s := reflect.MakeSlice(t, len(items), len(items))
			for i, it := range items {
				if err := convertInto(s.Index(i), it); err != nil {
					return err.in(" item " + strconv.Itoa(i+1))
				}
			}
			dst.Set(s)
			return nil
		}
	case reflect.Array:
		if items, ok := sequenceItems(v); ok {
			if len(items) != t.Len() {
				return &convError{class: "TypeError", want: fmt.Sprintf("a tuple of length %d", t.Len()),
					got: fmt.Sprintf("a tuple of length %d", len(items))}
			}
			for i, it := range items {
				if err := convertInto(dst.Index(i), it); err != nil {
					return err.in(" item " + strconv.Itoa(i+1))
				}
			}
			return nil
		}
	case reflect.Struct:
		if t == typeBigInt {
			if n, ok := toBig(v); ok {
				dst.Set(reflect.ValueOf(n).Elem())
				return nil
			}
		}
	case reflect.Pointer:
		if t == typeBigIntP {
			if n, ok := toBig(v); ok {
				dst.Set(reflect.ValueOf(n))
				return nil
			}
		}
	case reflect.Func:
		if fn, ok := funcFrom(v, t); ok {
			dst.Set(fn)
			return nil
		}
	}
	return convertLocal(dst, v)
}

// convertLocal is the fallback for local Go values: assignable values, an
// Object's wrapped value, a pointer dereferenced for its element type.
func convertLocal(dst reflect.Value, v any) *convError {
	t := dst.Type()
	rv := reflect.ValueOf(v)
	if rv.Type().AssignableTo(t) {
		dst.Set(rv)
		return nil
	}
	if o, ok := v.(Object); ok {
		if u := Unwrap(o); u != v && u != nil {
			if err := convertLocal(dst, u); err == nil {
				return nil
			}
		}
		return mismatch(t, v)
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Type().Elem().AssignableTo(t) {
		dst.Set(rv.Elem())
		return nil
	}
	return mismatch(t, v)
}

// sequenceItems returns the items of a tuple-like value.
func sequenceItems(v any) ([]any, bool) {
	switch x := v.(type) {
	case codec.Tuple:
		return x, true
	case []any:
		return x, true
	case codec.FrozenSet:
		return x, true
	}
	return nil, false
}

func toBig(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case *big.Int:
		if x == nil {
			return nil, false
		}
		return new(big.Int).Set(x), true
	case bool:
		return nil, false
	case uint64:
		return new(big.Int).SetUint64(x), true
	case uint:
		return new(big.Int).SetUint64(uint64(x)), true
	case uintptr:
		return new(big.Int).SetUint64(uint64(x)), true
	}
	if n, ok := codec.ToInt64(v); ok {
		return big.NewInt(n), true
	}
	return nil, false
}

// intErr is the failure for a non-int value given to an integer parameter.
func intErr(t reflect.Type, v any) *convError {
	switch v.(type) {
	case float64, float32:
		return &convError{class: "TypeError", msg: "'float' object cannot be interpreted as an integer"}
	}
	return mismatch(t, v)
}

func convertInt(dst reflect.Value, v any) *convError {
	t := dst.Type()
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case *big.Int:
		if x == nil || !x.IsInt64() {
			return overflow("Python int too large to convert to Go %s", t.Kind())
		}
		n = x.Int64()
	case uint64, uint, uintptr:
		u := reflect.ValueOf(v).Uint()
		if u > math.MaxInt64 {
			return overflow("Python int too large to convert to Go %s", t.Kind())
		}
		n = int64(u)
	default:
		m, ok := codec.ToInt64(v)
		if !ok {
			return intErr(t, v)
		}
		n = m
	}
	if dst.OverflowInt(n) {
		return overflow("Python int too large to convert to Go %s", t.Kind())
	}
	dst.SetInt(n)
	return nil
}

func convertUint(dst reflect.Value, v any) *convError {
	t := dst.Type()
	var u uint64
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return overflow("can't convert negative int to unsigned")
		}
		u = uint64(x)
	case *big.Int:
		if x == nil {
			return intErr(t, v)
		}
		if x.Sign() < 0 {
			return overflow("can't convert negative int to unsigned")
		}
		if !x.IsUint64() {
			return overflow("Python int too large to convert to Go %s", t.Kind())
		}
		u = x.Uint64()
	case uint64, uint, uint32, uint16, uint8, uintptr:
		u = reflect.ValueOf(v).Uint()
	default:
		n, ok := codec.ToInt64(v)
		if !ok {
			return intErr(t, v)
		}
		if n < 0 {
			return overflow("can't convert negative int to unsigned")
		}
		u = uint64(n)
	}
	if dst.OverflowUint(u) {
		return overflow("Python int too large to convert to Go %s", t.Kind())
	}
	dst.SetUint(u)
	return nil
}

// toFloat converts a Python int or float to float64.
func toFloat(v any) (float64, bool, *convError) {
	switch x := v.(type) {
	case float64:
		return x, true, nil
	case float32:
		return float64(x), true, nil
	case bool:
		return 0, false, nil
	case *big.Int:
		if x == nil {
			return 0, false, nil
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		if math.IsInf(f, 0) {
			return 0, false, overflow("int too large to convert to float")
		}
		return f, true, nil
	case uint64, uint, uintptr:
		return float64(reflect.ValueOf(v).Uint()), true, nil
	}
	if n, ok := codec.ToInt64(v); ok {
		return float64(n), true, nil
	}
	return 0, false, nil
}

func convertFloat(dst reflect.Value, v any) *convError {
	f, ok, err := toFloat(v)
	if err != nil {
		return err
	}
	if !ok {
		return mismatch(dst.Type(), v)
	}
	if dst.Kind() == reflect.Float32 && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
		return overflow("float too large to convert to Go float32")
	}
	dst.SetFloat(f)
	return nil
}

func convertComplex(dst reflect.Value, v any) *convError {
	var c complex128
	switch x := v.(type) {
	case complex128:
		c = x
	case complex64:
		c = complex128(x)
	default:
		f, ok, err := toFloat(v)
		if err != nil {
			return err
		}
		if !ok {
			return mismatch(dst.Type(), v)
		}
		c = complex(f, 0)
	}
	dst.SetComplex(c)
	return nil
}

// pyTypeOf names the Python type a Go parameter type expects, for error
// messages.
func pyTypeOf(t reflect.Type) string {
	switch t {
	case typeBigInt, typeBigIntP:
		return "int"
	case typePySlice:
		return "slice"
	case typeFrozen:
		return "frozenset"
	case typeProxy:
		return "a remote object"
	case typeSingle:
		return "Ellipsis or NotImplemented"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Complex64, reflect.Complex128:
		return "complex"
	case reflect.String:
		return "str"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "tuple"
	case reflect.Array:
		return "tuple"
	case reflect.Func:
		return "callable"
	case reflect.Map:
		return "dict"
	case reflect.Pointer:
		return pyTypeOf(t.Elem())
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

// PyTypeName names the Python type of a value as a Python error message
// would (type(v).__name__): "NoneType", "bool", "int", "float", "complex",
// "str", "bytes", "tuple", "frozenset", "slice", "ellipsis",
// "NotImplementedType"; for a *Proxy or an Object the class part of its
// name_pack ("list", "Counter"); for other Go values what Wrap would make
// of them ("dict", "list", "function", "generator") or the Go type name.
func PyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return "int"
	case float32, float64:
		return "float"
	case complex64, complex128:
		return "complex"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case codec.Tuple, []any:
		return "tuple"
	case codec.FrozenSet:
		return "frozenset"
	case codec.Slice:
		return "slice"
	case codec.Singleton:
		if x == codec.Ellipsis {
			return "ellipsis"
		}
		return "NotImplementedType"
	case *Proxy:
		return shortName(x.ID().Name)
	case Object:
		return shortName(x.TypeName())
	}
	t := reflect.TypeOf(v)
	switch t.Kind() {
	case reflect.Map:
		if !hasExportedMethods(t) {
			return "dict"
		}
	case reflect.Slice, reflect.Array:
		if !hasExportedMethods(t) {
			return "list"
		}
	case reflect.Func:
		if isSeqFunc(t) {
			return "generator"
		}
		if !hasExportedMethods(t) {
			return "function"
		}
	case reflect.Chan:
		return "generator"
	}
	return goTypeName(t)
}

// hasExportedMethods reports whether values of t have exported methods,
// directly or through a pointer.
func hasExportedMethods(t reflect.Type) bool {
	if t.NumMethod() > 0 {
		return true
	}
	return t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && reflect.PointerTo(t).NumMethod() > 0
}

// Truthy is Python's truth test for values of the model: None, False, zero
// numbers and empty str/bytes/tuple/frozenset are false; anything else
// (including a *Proxy, whose truth would need a request) is true.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case *big.Int:
		return x != nil && x.Sign() != 0
	case float64:
		return x != 0
	case complex128:
		return x != 0
	case string:
		return x != ""
	case []byte:
		return len(x) != 0
	case codec.Tuple:
		return len(x) != 0
	case []any:
		return len(x) != 0
	case codec.FrozenSet:
		return len(x) != 0
	}
	if n, ok := codec.ToInt64(v); ok {
		return n != 0
	}
	switch x := v.(type) {
	case uint64:
		return x != 0
	case uint:
		return x != 0
	case float32:
		return x != 0
	case complex64:
		return x != 0
	}
	return true
}

// funcShape is what a Go func made from a callable needs to know about its
// type; cached per type.
type funcShape struct {
	ctx    bool           // first parameter is a context.Context
	errOut bool           // last result is error
	outs   []reflect.Type // the other results
}

var funcShapes sync.Map // reflect.Type → *funcShape

func funcShapeOf(t reflect.Type) *funcShape {
	if s, ok := funcShapes.Load(t); ok {
		return s.(*funcShape)
	}
	s := &funcShape{ctx: t.NumIn() > 0 && t.In(0) == typeContext}
	n := t.NumOut()
	if n > 0 && t.Out(n-1) == typeError {
		s.errOut = true
		n--
	}
	for i := range n {
		s.outs = append(s.outs, t.Out(i))
	}
	v, _ := funcShapes.LoadOrStore(t, s)
	return v.(*funcShape)
}

// funcFrom makes a Go func of type t that calls v: a *Proxy (with
// HANDLE_CALL) or a local Object (its Call method).
func funcFrom(v any, t reflect.Type) (reflect.Value, bool) {
	var call func(ctx context.Context, args []any) (any, error)
	switch x := v.(type) {
	case *Proxy:
		call = func(ctx context.Context, args []any) (any, error) { return x.CallKw(ctx, args, nil) }
	case Object:
		if rv := reflect.ValueOf(Unwrap(x)); rv.IsValid() && rv.Type().AssignableTo(t) {
			return rv, true
		}
		call = func(ctx context.Context, args []any) (any, error) { return x.Call(ctx, codec.Tuple(args), nil) }
	default:
		return reflect.Value{}, false
	}
	return MakeFunc(t, call), true
}

// MakeFunc returns a Go func of type t (which must be a func type) whose
// calls go to call, for turning a remote callable into a typed Go callback:
//
//   - a leading context.Context parameter is passed to call (otherwise
//     context.Background(), so the connection's sync timeout applies);
//   - the other arguments (variadic ones spread) are passed as they are;
//   - call's result is converted to the func's results: one result takes
//     the value, several take the items of a returned tuple;
//   - a trailing error result receives the call's failure, or a conversion
//     failure of the result. Without one, a failure panics with
//     *CallbackError; the adapters of this package recover it, so the
//     failure reaches the peer that called the Go code unchanged.
func MakeFunc(t reflect.Type, call func(ctx context.Context, args []any) (any, error)) reflect.Value {
	shape := funcShapeOf(t)
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		ctx := context.Background()
		i0 := 0
		if shape.ctx {
			if c, ok := in[0].Interface().(context.Context); ok && c != nil {
				ctx = c
			}
			i0 = 1
		}
		args := make([]any, 0, len(in)-i0)
		for i := i0; i < len(in); i++ {
			if t.IsVariadic() && i == len(in)-1 {
				s := in[i]
				for j := range s.Len() {
					args = append(args, s.Index(j).Interface())
				}
				continue
			}
			args = append(args, in[i].Interface())
		}
		res, err := call(ctx, args)
		out := make([]reflect.Value, t.NumOut())
		if err == nil {
			err = fillResults(out, shape.outs, res)
		}
		for i, ot := range shape.outs {
			if err != nil || !out[i].IsValid() {
				out[i] = reflect.Zero(ot)
			}
		}
		if shape.errOut {
			ev := reflect.New(typeError).Elem()
			if err != nil {
				ev.Set(reflect.ValueOf(err))
			}
			out[len(out)-1] = ev
		} else if err != nil {
			panic(&CallbackError{Err: err})
		}
		return out
	})
}

// fillResults converts a callable's result to a func's result types.
func fillResults(out []reflect.Value, types []reflect.Type, res any) error {
	switch len(types) {
	case 0:
		return nil
	case 1:
		v, err := convertResult(res, types[0])
		if err != nil {
			return err
		}
		out[0] = v
		return nil
	}
	items, ok := sequenceItems(res)
	if !ok || len(items) != len(types) {
		return typeErrorf("callback returned %s, expected a tuple of %d items", PyTypeName(res), len(types))
	}
	for i, t := range types {
		v, err := convertResult(items[i], t)
		if err != nil {
			return err
		}
		out[i] = v
	}
	return nil
}

func convertResult(v any, t reflect.Type) (reflect.Value, error) {
	dst := reflect.New(t).Elem()
	if err := convertInto(dst, v); err != nil {
		return reflect.Value{}, err.pyError("callback result")
	}
	return dst, nil
}
