package netref

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
)

// ErrReleased is the sentinel for using a Proxy after Close: every operation
// on a closed proxy returns an error wrapping it.
var ErrReleased = errors.New("netref: proxy released")

// Proxy is the Go handle on an object that lives in the peer (a "netref").
// Its operations send the requests of PROTOCOL.md §8 through its Peer and
// return what came back; a remote exception is returned as *codec.PyError.
//
// A Proxy counts how many times its id_pack was received (NewProxy counts
// one, AddRef one more each). Those references are given back to the peer
// with one HANDLE_DEL(id, count) either explicitly by Close or, if Close is
// never called, when the Proxy is garbage collected. The connection's proxy
// cache hands the same *Proxy to every holder of the same id_pack, so Close
// ends the proxy for all of them: close only proxies you alone hold (a fresh
// result), or leave the release to the garbage collector.
//
// All methods are safe for concurrent use.
type Proxy struct {
	st      *proxyState
	cleanup runtime.Cleanup
}

// proxyState is the part of a Proxy the cleanup needs. It must not point
// back to the Proxy, or the Proxy would never become unreachable.
type proxyState struct {
	peer Peer
	id   IDPack

	mu       sync.Mutex
	count    int64
	released bool
}

// release gives the counted references back to the peer, once.
func (s *proxyState) release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	n := s.count
	s.count = 0
	s.mu.Unlock()
	if n > 0 && s.peer != nil {
		s.peer.Release(s.id, n)
	}
}

func (s *proxyState) isReleased() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released
}

// NewProxy returns a proxy for the peer's object id with a reference count
// of 1. When the proxy is garbage collected without having been closed,
// peer.Release(id, count) is called from a runtime cleanup goroutine, so
// Release must be safe to call from any goroutine and must not block.
func NewProxy(peer Peer, id IDPack) *Proxy {
	st := &proxyState{peer: peer, id: id, count: 1}
	p := &Proxy{st: st}
	p.cleanup = runtime.AddCleanup(p, (*proxyState).release, st)
	return p
}

// AddRef counts one more reception of the proxy's id_pack (a cache hit in
// the connection). It returns false, counting nothing, when the proxy was
// already closed: the caller must then make a new proxy with NewProxy for
// the reference it received.
func (p *Proxy) AddRef() bool {
	s := p.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return false
	}
	s.count++
	return true
}

// RefCount returns the number of references the proxy holds (0 once
// closed).
func (p *Proxy) RefCount() int64 {
	s := p.st
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Close releases the proxy's references now with one HANDLE_DEL (sent
// asynchronously by the peer). It is idempotent and always returns nil;
// later operations on the proxy fail with an error wrapping ErrReleased.
func (p *Proxy) Close() error {
	p.cleanup.Stop()
	p.st.release()
	return nil
}

// Released reports whether Close was called.
func (p *Proxy) Released() bool { return p.st.isReleased() }

// ID returns the id_pack of the peer's object.
func (p *Proxy) ID() IDPack { return p.st.id }

// Peer returns the connection the object lives behind.
func (p *Proxy) Peer() Peer { return p.st.peer }

// String describes the proxy without any I/O, for %v and logs:
// "<netref builtins.list 0x7f3a...>".
func (p *Proxy) String() string {
	id := p.st.id
	n := id.Instance
	if n == 0 {
		n = id.Class
	}
	if p.st.isReleased() {
		return fmt.Sprintf("<netref %s 0x%x (released)>", id.Name, uint64(n))
	}
	return fmt.Sprintf("<netref %s 0x%x>", id.Name, uint64(n))
}

// request sends one request about p, failing fast once p is closed.
func (p *Proxy) request(ctx context.Context, op string, handler int, args ...any) (any, error) {
	if p.st.isReleased() {
		return nil, fmt.Errorf("netref: %s on %s: %w", op, p.st.id.Name, ErrReleased)
	}
	v, err := p.st.peer.Request(ctx, handler, args...)
	runtime.KeepAlive(p)
	return v, err
}

func (p *Proxy) requestAsync(op string, handler int, args ...any) (*dispatch.AsyncResult, error) {
	if p.st.isReleased() {
		return nil, fmt.Errorf("netref: %s on %s: %w", op, p.st.id.Name, ErrReleased)
	}
	r, err := p.st.peer.RequestAsync(handler, args...)
	runtime.KeepAlive(p)
	return r, err
}

// kwargsTuple builds the wire form of keyword arguments: a tuple of
// (name, value) pairs in the caller's order.
func kwargsTuple(kwargs []Kwarg) codec.Tuple {
	if len(kwargs) == 0 {
		return codec.Tuple{}
	}
	t := make(codec.Tuple, len(kwargs))
	for i, kw := range kwargs {
		t[i] = codec.Tuple{kw.Name, kw.Value}
	}
	return t
}

// noKwargs is the empty keyword tuple, made an interface value once.
var noKwargs any = codec.Tuple{}

func argsTuple(args []any) codec.Tuple {
	if args == nil {
		return codec.Tuple{}
	}
	return codec.Tuple(args)
}

// GetAttr reads the attribute name: HANDLE_GETATTR(p, name). The peer
// applies its attribute policy (a Python peer maps "x" to "exposed_x").
func (p *Proxy) GetAttr(ctx context.Context, name string) (any, error) {
	return p.request(ctx, "getattr", HandleGetAttr, p, name)
}

// SetAttr sets the attribute name: HANDLE_SETATTR(p, name, v). A default
// Python peer refuses it with AttributeError.
func (p *Proxy) SetAttr(ctx context.Context, name string, v any) error {
	_, err := p.request(ctx, "setattr", HandleSetAttr, p, name, v)
	return err
}

// DelAttr deletes the attribute name: HANDLE_DELATTR(p, name).
func (p *Proxy) DelAttr(ctx context.Context, name string) error {
	_, err := p.request(ctx, "delattr", HandleDelAttr, p, name)
	return err
}

// Call calls the object: HANDLE_CALL(p, args, ()). The arguments are boxed
// by the connection (Go values that brine cannot carry travel by reference).
func (p *Proxy) Call(ctx context.Context, args ...any) (any, error) {
	return p.request(ctx, "call", HandleCall, p, argsTuple(args), noKwargs)
}

// CallKw calls the object with keyword arguments: HANDLE_CALL(p, args,
// ((name, value), ...)).
func (p *Proxy) CallKw(ctx context.Context, args []any, kwargs []Kwarg) (any, error) {
	return p.request(ctx, "call", HandleCall, p, argsTuple(args), kwargsTuple(kwargs))
}

// CallMethod calls the method name in one round trip: HANDLE_CALLATTR(p,
// name, args, ()). It is how dunders are invoked, and cheaper than GetAttr
// followed by Call.
func (p *Proxy) CallMethod(ctx context.Context, name string, args ...any) (any, error) {
	if fast, ok := p.st.peer.(CallAttrRequester); ok {
		if p.st.isReleased() {
			return nil, fmt.Errorf("netref: callattr on %s: %w", p.st.id.Name, ErrReleased)
		}
		v, err := fast.RequestCallAttr(ctx, p, name, args)
		runtime.KeepAlive(p)
		return v, err
	}
	return p.request(ctx, "callattr", HandleCallAttr, p, name, argsTuple(args), noKwargs)
}

// CallMethodKw is CallMethod with keyword arguments.
func (p *Proxy) CallMethodKw(ctx context.Context, name string, args []any, kwargs []Kwarg) (any, error) {
	return p.request(ctx, "callattr", HandleCallAttr, p, name, argsTuple(args), kwargsTuple(kwargs))
}

// CallAsync sends HANDLE_CALL(p, args, ()) without waiting (rpyc.async_).
func (p *Proxy) CallAsync(args ...any) (*dispatch.AsyncResult, error) {
	return p.requestAsync("call", HandleCall, p, argsTuple(args), noKwargs)
}

// CallKwAsync sends HANDLE_CALL(p, args, kwargs) without waiting.
func (p *Proxy) CallKwAsync(args []any, kwargs []Kwarg) (*dispatch.AsyncResult, error) {
	return p.requestAsync("call", HandleCall, p, argsTuple(args), kwargsTuple(kwargs))
}

// CallMethodAsync sends HANDLE_CALLATTR(p, name, args, ()) without waiting.
func (p *Proxy) CallMethodAsync(name string, args ...any) (*dispatch.AsyncResult, error) {
	return p.requestAsync("callattr", HandleCallAttr, p, name, argsTuple(args), noKwargs)
}

// CallMethodKwAsync sends HANDLE_CALLATTR(p, name, args, kwargs) without
// waiting.
func (p *Proxy) CallMethodKwAsync(name string, args []any, kwargs []Kwarg) (*dispatch.AsyncResult, error) {
	return p.requestAsync("callattr", HandleCallAttr, p, name, argsTuple(args), kwargsTuple(kwargs))
}

// Str returns str(obj): HANDLE_STR(p).
func (p *Proxy) Str(ctx context.Context) (string, error) {
	v, err := p.request(ctx, "str", HandleStr, p)
	if err != nil {
		return "", err
	}
	return asString("str", v)
}

// Repr returns repr(obj): HANDLE_REPR(p).
func (p *Proxy) Repr(ctx context.Context) (string, error) {
	v, err := p.request(ctx, "repr", HandleRepr, p)
	if err != nil {
		return "", err
	}
	return asString("repr", v)
}

func asString(op string, v any) (string, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("netref: %s returned %s, not str", op, PyTypeName(v))
}

// Hash returns hash(obj): HANDLE_HASH(p).
func (p *Proxy) Hash(ctx context.Context) (int64, error) {
	v, err := p.request(ctx, "hash", HandleHash, p)
	if err != nil {
		return 0, err
	}
	n, ok := codec.ToInt64(v)
	if !ok {
		return 0, fmt.Errorf("netref: hash returned %s, not a 64-bit int", PyTypeName(v))
	}
	return n, nil
}

// Dir returns dir(obj): HANDLE_DIR(p).
func (p *Proxy) Dir(ctx context.Context) ([]string, error) {
	v, err := p.request(ctx, "dir", HandleDir, p)
	if err != nil {
		return nil, err
	}
	t, ok := v.(codec.Tuple)
	if !ok {
		return nil, fmt.Errorf("netref: dir returned %s, not tuple", PyTypeName(v))
	}
	names := make([]string, len(t))
	for i, x := range t {
		s, err := asString("dir", x)
		if err != nil {
			return nil, err
		}
		names[i] = s
	}
	return names, nil
}

// Cmp applies the comparison operator op ("__eq__", "__lt__"...) to obj and
// other: HANDLE_CMP(p, other, op). codec.NotImplemented is a valid result.
func (p *Proxy) Cmp(ctx context.Context, other any, op string) (any, error) {
	return p.request(ctx, "cmp", HandleCmp, p, other, op)
}

// Eq reports obj == other as Python computes it for the first operand:
// HANDLE_CMP(p, other, "__eq__"), truth-tested; when the peer answers
// NotImplemented, identity decides (other is a proxy for the same object).
func (p *Proxy) Eq(ctx context.Context, other any) (bool, error) {
	v, err := p.Cmp(ctx, other, "__eq__")
	if err != nil {
		return false, err
	}
	if v == codec.NotImplemented {
		o, ok := other.(*Proxy)
		return ok && o.st.id == p.st.id && o.st.peer == p.st.peer, nil
	}
	return Truthy(v), nil
}

// Len returns len(obj): HANDLE_CALLATTR(p, "__len__", (), ()).
func (p *Proxy) Len(ctx context.Context) (int, error) {
	v, err := p.CallMethod(ctx, "__len__")
	if err != nil {
		return 0, err
	}
	n, ok := codec.ToInt64(v)
	if !ok || int64(int(n)) != n || n < 0 {
		return 0, codec.Errorf("TypeError", "'%s' object cannot be interpreted as a length", PyTypeName(v))
	}
	return int(n), nil
}

// GetItem returns obj[key]: HANDLE_CALLATTR(p, "__getitem__", (key,), ()).
func (p *Proxy) GetItem(ctx context.Context, key any) (any, error) {
	return p.CallMethod(ctx, "__getitem__", key)
}

// SetItem does obj[key] = v: HANDLE_CALLATTR(p, "__setitem__", (key, v), ()).
func (p *Proxy) SetItem(ctx context.Context, key, v any) error {
	_, err := p.CallMethod(ctx, "__setitem__", key, v)
	return err
}

// DelItem does del obj[key]: HANDLE_CALLATTR(p, "__delitem__", (key,), ()).
func (p *Proxy) DelItem(ctx context.Context, key any) error {
	_, err := p.CallMethod(ctx, "__delitem__", key)
	return err
}

// Contains reports x in obj: HANDLE_CALLATTR(p, "__contains__", (x,), ()),
// truth-tested as Python's in operator does.
func (p *Proxy) Contains(ctx context.Context, x any) (bool, error) {
	v, err := p.CallMethod(ctx, "__contains__", x)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// Next returns next(obj): HANDLE_CALLATTR(p, "__next__", (), ()). At the end
// of the iteration the error matches codec.ErrStopIteration (errors.Is).
func (p *Proxy) Next(ctx context.Context) (any, error) {
	return p.CallMethod(ctx, "__next__")
}

// Iter iterates obj as Python's for loop does: HANDLE_CALLATTR(p,
// "__iter__") for an iterator, then HANDLE_CALLATTR(it, "__next__")
// until a StopIteration reply. A failure is yielded once as (nil, err) and
// ends the sequence. The iterator proxy is closed when the loop ends (unless
// the iterator is obj itself, as for a generator). If __iter__ returns a
// tuple by value, its items are yielded.
func (p *Proxy) Iter(ctx context.Context) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		v, err := p.CallMethod(ctx, "__iter__")
		if err != nil {
			yield(nil, err)
			return
		}
		switch it := v.(type) {
		case *Proxy:
			if it != p {
				defer it.Close()
			}
			for {
				x, err := it.Next(ctx)
				if err != nil {
					if errors.Is(err, codec.ErrStopIteration) {
						return
					}
					yield(nil, err)
					return
				}
				if !yield(x, nil) {
					return
				}
			}
		case codec.Tuple:
			for _, x := range it {
				if !yield(x, nil) {
					return
				}
			}
		default:
			yield(nil, codec.Errorf("TypeError", "iter() returned non-iterator of type '%s'", PyTypeName(v)))
		}
	}
}

// Enter enters obj as a context manager: HANDLE_CALLATTR(p, "__enter__",
// (), ()), returning what __enter__ returned.
func (p *Proxy) Enter(ctx context.Context) (any, error) {
	return p.CallMethod(ctx, "__enter__")
}

// Exit leaves the context manager: HANDLE_CTXEXIT(p, None). It reports
// whether the peer's __exit__ asked to suppress the exception.
//
// A Python client sends the exception class (by reference) when the block
// raised; a Go error has no Python class on the peer's side, so None is sent
// whatever err is, and the peer's __exit__ sees a clean exit (err is
// accepted for symmetry with a with statement and not sent). Callers that
// need the peer to see a failure should call a method of their own.
func (p *Proxy) Exit(ctx context.Context, err error) (bool, error) {
	_ = err
	v, rerr := p.request(ctx, "ctxexit", HandleCtxExit, p, nil)
	if rerr != nil {
		return false, rerr
	}
	return Truthy(v), nil
}

// IsInstance reports isinstance(obj, class) where class is a proxy for a
// class of the same peer (instance id 0): decided locally when obj's class
// id is the class's own id, otherwise HANDLE_INSTANCECHECK(class,
// id_pack of p). A Python peer answers True only when it can rebuild the
// relation from its caches (PROTOCOL.md §7).
func (p *Proxy) IsInstance(ctx context.Context, class *Proxy) (bool, error) {
	if class == nil {
		return false, codec.Errorf("TypeError", "isinstance() arg 2 must be a type")
	}
	if class.st.peer != p.st.peer {
		return false, fmt.Errorf("netref: isinstance: %s and %s belong to different connections", p, class)
	}
	if class.st.id.Class == p.st.id.Class {
		return true, nil
	}
	if p.st.isReleased() {
		return false, fmt.Errorf("netref: isinstance on %s: %w", p.st.id.Name, ErrReleased)
	}
	v, err := class.request(ctx, "instancecheck", HandleInstanceCheck, class, p.st.id.Tuple())
	runtime.KeepAlive(p)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// shortName is the class part of a name_pack ("builtins.list" → "list").
func shortName(namePack string) string {
	if i := strings.LastIndexByte(namePack, '.'); i >= 0 {
		return namePack[i+1:]
	}
	return namePack
}
