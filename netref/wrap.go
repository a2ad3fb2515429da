package netref

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// Wrap adapts a Go value that brine cannot carry so that it can answer the
// peer's requests about it (the connection puts the result in its object
// table and sends a reference). What the peer gets, by order of precedence:
//
//   - an Object is returned as is;
//   - an Iterator, an iter.Seq[T] or iter.Seq2[K, V] (any func of the
//     range-over-func shape; Seq2 items arrive as (k, v) tuples) and a
//     receive channel become a "builtins.generator" (__iter__, __next__);
//   - a type with exported methods, a struct, or a pointer to one becomes
//     an object "rpycgo.<GoTypeName>" (see below);
//   - any other func becomes a "builtins.function";
//   - a map becomes a read-only "builtins.dict", a slice or array a
//     read-only "builtins.list".
//
// The name_packs of the builtins (Appendix B of PROTOCOL.md) never cost the
// peer an INSPECT; "rpycgo." is a module that does not exist in Python, so
// a Python peer never mistakes the class for one of its own (V6.6).
//
// Objects "rpycgo.<T>" expose, and deny everything else with Python's own
// AttributeError ("'T' object has no attribute 'x'", name set):
//
//   - exported methods under their snake_case names (IncrBy → incr_by; see
//     SnakeCase); GETATTR gives a bound "builtins.method", CALLATTR calls
//     in one round trip. Methods that implement the interfaces of dunder.go
//     give Python operations instead of names, and the methods of an
//     embedded sync.Mutex or sync.RWMutex are never exposed;
//   - methods listed by PropertyNamer, read as attributes (c.value calls
//     Value());
//   - exported fields only when tagged `rpyc:"name"` (readable) or
//     `rpyc:"name,rw"` (SETATTR allowed; conversions as in Convert). Field
//     access is not synchronised with the methods: keep shared mutable
//     state behind methods;
//   - "__doc__", which reads as None.
//
// A struct value (not a pointer) is copied once into a new variable, so
// that pointer-receiver methods apply to it; Unwrap still returns the value
// given. Calls follow the rules of ConvertArgs, with keyword arguments
// named by ParamNamer; a panic in the Go code is recovered and becomes a
// RuntimeError("panic: ...") (or the failure of a callback, see MakeFunc).
func Wrap(v any) Object {
	if v == nil {
		return &object{ti: noneTypeInfo}
	}
	if o, ok := v.(Object); ok {
		return o
	}
	if it, ok := v.(Iterator); ok {
		return newIteratorGenerator(v, it)
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	switch t.Kind() {
	case reflect.Func:
		if isSeqFunc(t) {
			return newSeqGenerator(v, rv)
		}
	case reflect.Chan:
		if t.ChanDir()&reflect.RecvDir != 0 {
			return newChanGenerator(v, rv)
		}
	}
	if !hasExportedMethods(t) {
		switch t.Kind() {
		case reflect.Func:
			return newFunction(v, rv, funcName(rv), nil)
		case reflect.Map:
			return &dict{orig: v, rv: rv}
		case reflect.Slice, reflect.Array:
			return &list{orig: v, rv: rv}
		}
	}
	return newObject(v, rv)
}

// WrapFunc adapts the Go func fn as a "builtins.function" named name (for
// Python's messages) whose parameters have the given Python names, so that
// keyword arguments can fill them (the last name may name a variadic
// parameter). fn must be a func.
func WrapFunc(name string, fn any, params ...string) Object {
	rv := reflect.ValueOf(fn)
	if rv.Kind() != reflect.Func {
		panic(fmt.Sprintf("netref.WrapFunc: %T is not a func", fn))
	}
	if name == "" {
		name = funcName(rv)
	}
	return newFunction(fn, rv, name, params)
}

// Unwrap returns the Go value an adapter made by Wrap or WrapFunc stands
// for (the value given to Wrap), or o itself for any other Object. The
// connection uses it to hand a LOCAL_REF's original value to Go code.
func Unwrap(o Object) any {
	if u, ok := o.(interface{ unwrap() any }); ok {
		if v := u.unwrap(); v != nil {
			return v
		}
	}
	return o
}

// isSeqFunc reports whether t has the range-over-func shape
// func(yield func(...) bool) with one or two yielded values.
func isSeqFunc(t reflect.Type) bool {
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 || t.IsVariadic() {
		return false
	}
	y := t.In(0)
	return y.Kind() == reflect.Func && (y.NumIn() == 1 || y.NumIn() == 2) && !y.IsVariadic() &&
		y.NumOut() == 1 && y.Out(0).Kind() == reflect.Bool
}

// goTypeName is the Python class name of a Go type: its name without
// package or type arguments, through pointers; "object" for unnamed types.
func goTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if name == "" {
		return "object"
	}
	return name
}

// funcName is the Python name of a Go func: the last part of its runtime
// name in snake_case ("pkg.Echo" → "echo", closures "func1").
func funcName(rv reflect.Value) string {
	f := runtime.FuncForPC(rv.Pointer())
	if f == nil {
		return "function"
	}
	name := f.Name()
	name = strings.TrimSuffix(name, "-fm")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "function"
	}
	return SnakeCase(name)
}

// addrOf returns an address identifying v: the pointer of a reference
// value, else the address of the adapter holding it.
func addrOf(rv reflect.Value, adapter unsafe.Pointer) uintptr {
	if rv.IsValid() {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer, reflect.Slice:
			if p := rv.Pointer(); p != 0 {
				return p
			}
		}
	}
	return uintptr(adapter)
}

// identityHash is hash(obj) for objects without a hash of their own, like
// CPython's id(obj) >> 4.
func identityHash(addr uintptr) int64 { return int64(addr >> 4) }

// identical reports whether other (a decoded operand) is the same object as
// the adapter self wrapping orig/rv: the same Object, or a Go value that is
// the same reference (or an equal comparable value).
func identical(self Object, orig any, rv reflect.Value, other any) bool {
	if o, ok := other.(Object); ok {
		if o == self {
			return true
		}
		other = Unwrap(o)
	}
	if other == nil || !rv.IsValid() {
		return false
	}
	ov := reflect.ValueOf(other)
	for _, mine := range [...]reflect.Value{reflect.ValueOf(orig), rv} {
		if !mine.IsValid() || mine.Type() != ov.Type() {
			continue
		}
		switch mine.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			if mine.Pointer() == ov.Pointer() {
				return true
			}
		case reflect.Slice:
			if mine.Pointer() == ov.Pointer() && mine.Len() == ov.Len() {
				return true
			}
		default:
			if mine.Comparable() && ov.Comparable() && mine.Equal(ov) {
				return true
			}
		}
	}
	return false
}

// eqResult answers __eq__/__ne__ from an equality, and NotImplemented for
// the other operators.
func eqResult(op string, eq bool) any {
	switch op {
	case "__eq__":
		return eq
	case "__ne__":
		return !eq
	}
	return codec.NotImplemented
}

// checkArgs is the arity check of the built-in adapters' methods, worded
// like CPython's for methods of built-in types.
func checkArgs(typ, name string, args codec.Tuple, kwargs []Kwarg, lo, hi int) error {
	if len(kwargs) > 0 {
		return typeErrorf("%s.%s() takes no keyword arguments", typ, name)
	}
	n := len(args)
	switch {
	case lo == hi && n != lo:
		switch lo {
		case 0:
			return typeErrorf("%s.%s() takes no arguments (%d given)", typ, name, n)
		case 1:
			return typeErrorf("%s.%s() takes exactly one argument (%d given)", typ, name, n)
		}
		return typeErrorf("%s.%s() takes exactly %d arguments (%d given)", typ, name, lo, n)
	case n < lo:
		return typeErrorf("%s expected at least %d argument%s, got %d", name, lo, plural(lo), n)
	case n > hi:
		return typeErrorf("%s expected at most %d argument%s, got %d", name, hi, plural(hi), n)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// safely runs fn, turning a panic into an error as the adapters must.
func safely(fn func() (any, error)) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, recoverError(r)
		}
	}()
	return fn()
}

// boundMethod is the value of GETATTR for a method: a "builtins.method"
// whose calls are CALLATTR on its owner.
type boundMethod struct {
	owner Object
	name  string
}

func (m *boundMethod) TypeName() string   { return "builtins.method" }
func (m *boundMethod) Inspect() []string  { return []string{"__call__"} }
func (m *boundMethod) ownerClass() string { return shortName(m.owner.TypeName()) }
func (m *boundMethod) qualName() string   { return m.ownerClass() + "." + m.name }
func (m *boundMethod) Dir(context.Context) ([]string, error) {
	// Not __func__ nor __self__: they are never reachable (__self__ would
	// lead past a restricted view), so they are not listed either.
	return []string{"__call__", "__doc__", "__name__", "__qualname__"}, nil
}

func (m *boundMethod) GetAttr(ctx context.Context, name string) (any, error) {
	switch name {
	case "__name__":
		return m.name, nil
	case "__qualname__":
		return m.qualName(), nil
	case "__doc__":
		return nil, nil
	case "__call__":
		return &boundMethod{owner: m, name: "__call__"}, nil
	}
	return nil, attributeError("method", name)
}

func (m *boundMethod) SetAttr(ctx context.Context, name string, value any) error {
	return attributeError("method", name)
}

func (m *boundMethod) DelAttr(ctx context.Context, name string) error {
	return attributeError("method", name)
}

func (m *boundMethod) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return m.owner.CallAttr(ctx, m.name, args, kwargs)
}

func (m *boundMethod) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	if name == "__call__" {
		return m.Call(ctx, args, kwargs)
	}
	return nil, attributeError("method", name)
}

func (m *boundMethod) Str(ctx context.Context) (string, error) { return m.Repr(ctx) }

func (m *boundMethod) Repr(ctx context.Context) (string, error) {
	r, err := m.owner.Repr(ctx)
	if err != nil {
		return "", err
	}
	return "<bound method " + m.qualName() + " of " + r + ">", nil
}

func (m *boundMethod) Hash(ctx context.Context) (int64, error) {
	h := identityHash(addrOf(reflect.ValueOf(m.owner), nil))
	for i := 0; i < len(m.name); i++ {
		h = h*31 + int64(m.name[i])
	}
	return h, nil
}

func (m *boundMethod) Cmp(ctx context.Context, other any, op string) (any, error) {
	o, ok := other.(*boundMethod)
	if !ok {
		if op == "__eq__" || op == "__ne__" {
			return eqResult(op, false), nil
		}
		return codec.NotImplemented, nil
	}
	return eqResult(op, o == m || (o.owner == m.owner && o.name == m.name)), nil
}
