// Package netref holds both sides of RPyC's object references: Proxy, the Go
// handle on an object that lives in the peer (a "netref"), and the adapters
// through which Go values living here answer the peer's requests (Object).
//
// netref sits above codec and dispatch and below conn: it must not import
// conn, services or servers. A connection is reached only through the Peer
// interface, which *conn.Conn implements.
package netref

import (
	"context"
	"fmt"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
)

// Handler codes of the RPyC protocol (PROTOCOL.md, Appendix A).
const (
	HandlePing          = 1
	HandleClose         = 2
	HandleGetRoot       = 3
	HandleGetAttr       = 4
	HandleDelAttr       = 5
	HandleSetAttr       = 6
	HandleCall          = 7
	HandleCallAttr      = 8
	HandleRepr          = 9
	HandleStr           = 10
	HandleCmp           = 11
	HandleHash          = 12
	HandleDir           = 13
	HandlePickle        = 14
	HandleDel           = 15
	HandleInspect       = 16
	HandleBuffIter      = 17
	HandleOldSlicing    = 18
	HandleCtxExit       = 19
	HandleInstanceCheck = 20
)

// IDPack identifies an object across the connection: the brine 3-tuple
// (name_pack, class_id, instance_id). Instance 0 means the object is a class.
type IDPack struct {
	Name     string
	Class    int64
	Instance int64
}

// Tuple returns the id_pack as the brine value that travels on the wire.
func (id IDPack) Tuple() codec.Tuple { return codec.Tuple{id.Name, id.Class, id.Instance} }

// String formats the id_pack like Python's repr of the tuple.
func (id IDPack) String() string { return fmt.Sprintf("(%q, %d, %d)", id.Name, id.Class, id.Instance) }

// ParseIDPack converts a decoded brine value into an IDPack.
func ParseIDPack(v any) (IDPack, error) {
	t, ok := v.(codec.Tuple)
	if !ok || len(t) != 3 {
		return IDPack{}, fmt.Errorf("netref: id_pack is not a 3-tuple: %T", v)
	}
	name, ok := t[0].(string)
	if !ok {
		return IDPack{}, fmt.Errorf("netref: id_pack name is %T, not str", t[0])
	}
	cls, ok1 := codec.ToInt64(t[1])
	inst, ok2 := codec.ToInt64(t[2])
	if !ok1 || !ok2 {
		return IDPack{}, fmt.Errorf("netref: id_pack ids are not 64-bit ints")
	}
	return IDPack{Name: name, Class: cls, Instance: inst}, nil
}

// Kwarg is one keyword argument of a call, in the order the caller gave it.
type Kwarg struct {
	Name  string
	Value any
}

// Peer is what a Proxy needs from its connection. *conn.Conn implements it.
type Peer interface {
	// Request sends a request with the given handler and positional
	// arguments (boxed by the connection: proxies of this connection travel
	// as references to the peer's own objects, non-brine Go values by
	// reference) and waits for the unboxed reply. A remote exception is
	// returned as *codec.PyError. ctx bounds the wait; without a deadline the
	// connection's sync request timeout applies.
	Request(ctx context.Context, handler int, args ...any) (any, error)
	// RequestAsync sends the request and returns at once.
	RequestAsync(handler int, args ...any) (*dispatch.AsyncResult, error)
	// Release tells the peer that count references to id are dropped
	// (HANDLE_DEL, asynchronous, reply ignored).
	Release(id IDPack, count int64)
}

// CallAttrRequester is a Peer with a faster form of the most common
// request: Request(ctx, HandleCallAttr, p, name, codec.Tuple(args),
// codec.Tuple{}), the same bytes, made without turning its arguments into
// interface values. Proxy.CallMethod uses it when the peer has it.
type CallAttrRequester interface {
	RequestCallAttr(ctx context.Context, p *Proxy, name string, args []any) (any, error)
}

// Object is a local value that answers the peer's requests about it. The
// connection's object table holds Objects; Wrap adapts ordinary Go values.
// Each method may return a *codec.PyError to raise a specific Python
// exception; any other error becomes one through codec.DumpError. ctx carries
// the connection serving the request (conn.FromContext).
type Object interface {
	// TypeName is the name_pack the peer sees ("builtins.function",
	// "rpycgo.Counter"...).
	TypeName() string
	// Inspect lists the method names answered to HANDLE_INSPECT; it decides
	// which implicit Python operations (len, iter, in, [], with, call) work
	// on the peer's proxy.
	Inspect() []string
	GetAttr(ctx context.Context, name string) (any, error)
	SetAttr(ctx context.Context, name string, value any) error
	DelAttr(ctx context.Context, name string) error
	Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error)
	CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error)
	Str(ctx context.Context) (string, error)
	Repr(ctx context.Context) (string, error)
	Hash(ctx context.Context) (int64, error)
	Dir(ctx context.Context) ([]string, error)
	// Cmp answers a comparison operator ("__eq__", "__lt__"...); returning
	// codec.NotImplemented is valid.
	Cmp(ctx context.Context, other any, op string) (any, error)
}
