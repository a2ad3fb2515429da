package conn

import (
	"context"
	"fmt"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// voidService is the default local service: its root answers only
// get_service_name and get_service_aliases, like RPyC's VoidService.
type voidService struct{}

func (voidService) Attach(*Conn) (netref.Object, error) { return voidRoot{}, nil }
func (voidService) Detach(*Conn)                        {}

type voidRoot struct{}

func (voidRoot) TypeName() string  { return "rpycgo.VoidService" }
func (voidRoot) Inspect() []string { return nil }

func (voidRoot) GetAttr(_ context.Context, name string) (any, error) {
	switch name {
	case "get_service_name", "exposed_get_service_name":
		return func() string { return "VOID" }, nil
	case "get_service_aliases", "exposed_get_service_aliases":
		return func() codec.Tuple { return codec.Tuple{"VOID"} }, nil
	}
	return nil, noAttr("VoidService", name)
}

func (voidRoot) SetAttr(_ context.Context, name string, _ any) error { return denied(name) }
func (voidRoot) DelAttr(_ context.Context, name string) error        { return denied(name) }

func (voidRoot) Call(context.Context, codec.Tuple, []netref.Kwarg) (any, error) {
	return nil, codec.NewPyError("TypeError", "'VoidService' object is not callable")
}

func (r voidRoot) CallAttr(ctx context.Context, name string, args codec.Tuple, kw []netref.Kwarg) (any, error) {
	f, err := r.GetAttr(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(args) != 0 || len(kw) != 0 {
		return nil, codec.NewPyError("TypeError", fmt.Sprintf("%s() takes 0 positional arguments", name))
	}
	switch g := f.(type) {
	case func() string:
		return g(), nil
	case func() codec.Tuple:
		return g(), nil
	}
	return nil, noAttr("VoidService", name)
}

func (voidRoot) Str(context.Context) (string, error)  { return "<VoidService>", nil }
func (voidRoot) Repr(context.Context) (string, error) { return "<rpycgo.VoidService object>", nil }
func (voidRoot) Hash(context.Context) (int64, error)  { return 0, nil }
func (voidRoot) Dir(context.Context) ([]string, error) {
	return []string{"get_service_aliases", "get_service_name"}, nil
}
func (voidRoot) Cmp(_ context.Context, other any, op string) (any, error) {
	return codec.NotImplemented, nil
}

func noAttr(typ, name string) error {
	e := codec.NewPyError("AttributeError", fmt.Sprintf("'%s' object has no attribute '%s'", typ, name))
	e.Attrs = append(e.Attrs, codec.Attr{Name: "name", Value: name})
	return e
}
