package netref

import (
	"context"
	"reflect"

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
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return resultValue(reflect.ValueOf(res)), nil
}
