package netref

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// function is a "builtins.function": a Go func the peer can call.
type function struct {
	orig any
	rv   reflect.Value
	sig  *callSig
}

func newFunction(v any, rv reflect.Value, name string, params []string) *function {
	return &function{orig: v, rv: rv, sig: newCallSig(rv, rv.Type(), false, name, params)}
}

func (f *function) unwrap() any { return f.orig }

func (f *function) addr() uintptr { return uintptr(unsafe.Pointer(f)) }

func (f *function) TypeName() string  { return "builtins.function" }
func (f *function) Inspect() []string { return []string{"__call__"} }

func (f *function) GetAttr(ctx context.Context, name string) (any, error) {
	switch name {
	case "__name__", "__qualname__":
		return f.sig.name, nil
	case "__doc__":
		return nil, nil
	case "__call__":
		return &boundMethod{owner: f, name: name}, nil
	}
	return nil, attributeError("function", name)
}

func (f *function) SetAttr(ctx context.Context, name string, value any) error {
	return attributeError("function", name)
}

func (f *function) DelAttr(ctx context.Context, name string) error {
	return attributeError("function", name)
}

// Call converts the arguments to the func's parameter types (ConvertArgs)
// and calls it.
func (f *function) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return f.sig.call(ctx, f.rv, reflect.Value{}, args, kwargs)
}

func (f *function) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	if name == "__call__" {
		return f.Call(ctx, args, kwargs)
	}
	return nil, attributeError("function", name)
}

func (f *function) Str(ctx context.Context) (string, error) { return f.Repr(ctx) }

func (f *function) Repr(ctx context.Context) (string, error) {
	return fmt.Sprintf("<function %s at 0x%x>", f.sig.name, f.addr()), nil
}

func (f *function) Hash(ctx context.Context) (int64, error) { return identityHash(f.addr()), nil }

func (f *function) Dir(ctx context.Context) ([]string, error) {
	return []string{"__call__", "__doc__", "__name__", "__qualname__"}, nil
}

func (f *function) Cmp(ctx context.Context, other any, op string) (any, error) {
	o, _ := other.(Object)
	return eqResult(op, o == Object(f)), nil
}
