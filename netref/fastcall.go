package netref

import (
	"context"
	"reflect"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// Methods whose parameters and results are all `any` (with an optional
// leading context.Context and trailing error) are called without reflect:
// their arguments need no conversion, so a bound method value of the
// exact func type is called directly. It saves reflect.Value.Call's two
// allocations per call and its frame copying; the semantics are those of
// the reflect path, which still serves every other call (keywords, wrong
// counts and their TypeErrors).

// fastKind numbers the func types called directly; 0 is none.
type fastKind uint8

const (
	fastNone fastKind = iota
	fast0
	fast0E
	fast1
	fast1E
	fastCtx1
	fastCtx1E
	fast2
	fast2E
	fastVar
	fastVarE
)

var fastTypes = map[reflect.Type]fastKind{
	reflect.TypeFor[func() any]():                              fast0,
	reflect.TypeFor[func() (any, error)]():                     fast0E,
	reflect.TypeFor[func(any) any]():                           fast1,
	reflect.TypeFor[func(any) (any, error)]():                  fast1E,
	reflect.TypeFor[func(context.Context, any) any]():          fastCtx1,
	reflect.TypeFor[func(context.Context, any) (any, error)](): fastCtx1E,
	reflect.TypeFor[func(any, any) any]():                      fast2,
	reflect.TypeFor[func(any, any) (any, error)]():             fast2E,
	reflect.TypeFor[func(...any) any]():                        fastVar,
	reflect.TypeFor[func(...any) (any, error)]():               fastVarE,
}

// fastKindOfMethod is the fastKind of a method expression type (receiver
// first).
func fastKindOfMethod(t reflect.Type) fastKind {
	if t.NumIn() == 0 {
		return fastNone
	}
	in := make([]reflect.Type, t.NumIn()-1)
	for i := range in {
		in[i] = t.In(i + 1)
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return fastTypes[reflect.FuncOf(in, out, t.IsVariadic())]
}

// fits reports whether a call with nargs positional arguments and no
// keywords can be made directly.
func (k fastKind) fits(nargs int) bool {
	switch k {
	case fast0, fast0E:
		return nargs == 0
	case fast1, fast1E, fastCtx1, fastCtx1E:
		return nargs == 1
	case fast2, fast2E:
		return nargs == 2
	case fastVar, fastVarE:
		return true
	}
	return false
}

// Direct calls. When the receiver is a pointer, the method expression
// (*T).M has the func type of the fast kind with one more leading pointer
// parameter, and a pointer is passed exactly as an unsafe.Pointer is (one
// word, in the same register or stack slot, under every Go ABI). So the
// method expression's func value, made once per type by reflect, is called
// through a func type that takes the receiver as an unsafe.Pointer: no
// bound method value per object, and no reflect.methodValueCall, which
// copies the frame and allocates on every call.
type (
	direct0      = func(unsafe.Pointer) any
	direct0E     = func(unsafe.Pointer) (any, error)
	direct1      = func(unsafe.Pointer, any) any
	direct1E     = func(unsafe.Pointer, any) (any, error)
	directCtx1   = func(unsafe.Pointer, context.Context, any) any
	directCtx1E  = func(unsafe.Pointer, context.Context, any) (any, error)
	direct2      = func(unsafe.Pointer, any, any) any
	direct2E     = func(unsafe.Pointer, any, any) (any, error)
	directVar    = func(unsafe.Pointer, ...any) any
	directVarE   = func(unsafe.Pointer, ...any) (any, error)
	directHolder struct {
		fn   any            // the method expression (keeps its func value alive)
		word unsafe.Pointer // fn's func value: a pointer to its code word
	}
)

// directOf returns the direct form of the method expression fn of a
// pointer receiver type, or nil when the fast kind is none.
func directOf(fn reflect.Value, recv reflect.Type, k fastKind) *directHolder {
	if k == fastNone || recv.Kind() != reflect.Pointer || fn.Kind() != reflect.Func {
		return nil
	}
	f := fn.Interface()
	// An interface holding a func keeps the func value itself in its data
	// word (its second word).
	return &directHolder{fn: f, word: (*[2]unsafe.Pointer)(unsafe.Pointer(&f))[1]}
}

// as reinterprets the method expression as the func type F, whose first
// parameter is the receiver as an unsafe.Pointer.
func as[F any](h *directHolder) F {
	var f F
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = h.word
	return f
}

// callDirect is callFast for a pointer receiver p.
func callDirect(ctx context.Context, sig *callSig, p unsafe.Pointer, args codec.Tuple) (res any, err error) {
	h := sig.direct
	switch sig.fast {
	case fast0:
		res = as[direct0](h)(p)
	case fast0E:
		res, err = as[direct0E](h)(p)
	case fast1:
		res = as[direct1](h)(p, args[0])
	case fast1E:
		res, err = as[direct1E](h)(p, args[0])
	case fastCtx1:
		res = as[directCtx1](h)(p, ctx, args[0])
	case fastCtx1E:
		res, err = as[directCtx1E](h)(p, ctx, args[0])
	case fast2:
		res = as[direct2](h)(p, args[0], args[1])
	case fast2E:
		res, err = as[direct2E](h)(p, args[0], args[1])
	case fastVar:
		res = as[directVar](h)(p, args...)
	case fastVarE:
		res, err = as[directVarE](h)(p, args...)
	}
	return res, err
}

// boundFast returns o's method m as a func value of its exact type, made
// once per object and method.
func (o *object) boundFast(sig *callSig) any {
	if fn, ok := o.fast.Load(sig); ok {
		return fn
	}
	fn, _ := o.fast.LoadOrStore(sig, o.rv.Method(sig.mindex).Interface())
	return fn
}

// callFast calls sig on o directly; the caller has checked fits.
func (o *object) callFast(ctx context.Context, sig *callSig, args codec.Tuple) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, recoverError(r)
		}
	}()
	if ctx == nil {
		ctx = context.Background()
	}
	if sig.direct != nil && o.rv.Kind() == reflect.Pointer {
		res, err = callDirect(ctx, sig, o.rv.UnsafePointer(), args)
	} else {
		res, err = o.callBound(ctx, sig, args)
	}
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return resultValue(reflect.ValueOf(res)), nil
}

// callBound calls sig through a bound method value of its exact type.
func (o *object) callBound(ctx context.Context, sig *callSig, args codec.Tuple) (res any, err error) {
	switch fn := o.boundFast(sig).(type) {
	case func() any:
		res = fn()
	case func() (any, error):
		res, err = fn()
	case func(any) any:
		res = fn(args[0])
	case func(any) (any, error):
		res, err = fn(args[0])
	case func(context.Context, any) any:
		res = fn(ctx, args[0])
	case func(context.Context, any) (any, error):
		res, err = fn(ctx, args[0])
	case func(any, any) any:
		res = fn(args[0], args[1])
	case func(any, any) (any, error):
		res, err = fn(args[0], args[1])
	case func(...any) any:
		res = fn(args...)
	case func(...any) (any, error):
		res, err = fn(args...)
	}
	return res, err
}
