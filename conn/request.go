package conn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

var (
	_ netref.Peer              = (*Conn)(nil)
	_ netref.CallAttrRequester = (*Conn)(nil)
)

// Request sends a request to the peer and waits for its reply (see
// netref.Peer). The wait ends at ctx's deadline, or after the connection's
// sync request timeout when ctx has none; a timeout is a
// *dispatch.TimeoutError, a remote exception a *codec.PyError, a dead
// connection an error wrapping dispatch.ErrClosed.
func (c *Conn) Request(ctx context.Context, handler int, args ...any) (any, error) {
	if inlineContext(ctx) {
		return nil, ErrInlineRequest
	}
	r, err := c.RequestAsync(handler, args...)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, r)
}

// RequestCallAttr is Request(ctx, netref.HandleCallAttr, p, name,
// codec.Tuple(args), codec.Tuple{}) (see netref.CallAttrRequester): the same
// bytes, encoded without making the four arguments interface values.
func (c *Conn) RequestCallAttr(ctx context.Context, p *netref.Proxy, name string, args []any) (any, error) {
	if inlineContext(ctx) {
		return nil, ErrInlineRequest
	}
	r, err := c.startRequest(netref.HandleCallAttr, func(dst []byte) ([]byte, error) {
		return c.appendCallAttrArgs(dst, p, name, args)
	})
	if err != nil {
		return nil, err
	}
	return c.await(ctx, r)
}

// inlineContext reports whether ctx is that of a method served inline, which
// must not wait for a reply.
func inlineContext(ctx context.Context) bool {
	return ctx != nil && ctx.Value(inlineKey{}) != nil
}

// await waits for the reply of a sync request (see Request).
func (c *Conn) await(ctx context.Context, r *dispatch.AsyncResult) (any, error) {
	var (
		v   any
		err error
	)
	if ctx == nil {
		ctx = context.Background()
	}
	dl, hasDL := ctx.Deadline()
	if c.rd != nil {
		// Read the reply on this goroutine if no other reads (pump.go).
		start := time.Now()
		wait := c.cfg.SyncRequestTimeout
		if !hasDL {
			dl = start.Add(wait)
		}
		if c.rd.pump(ctx, r, dl) && !r.Ready() && !hasDL {
			// The wait ended without the reply: what is left of the
			// timeout (likely nothing) is waited below, and a timeout
			// says how long the whole wait was.
			v, err = r.ResultWithin(ctx, max(time.Until(dl), 0))
			if te := (*dispatch.TimeoutError)(nil); errors.As(err, &te) {
				te.After = wait
			}
			if err != nil && !r.Ready() {
				r.Fail(err)
			}
			return v, err
		}
	}
	if hasDL {
		v, err = r.Result(ctx)
	} else {
		v, err = r.ResultWithin(ctx, c.cfg.SyncRequestTimeout)
	}
	if err != nil && !r.Ready() {
		r.Fail(err) // settles it and drops the entry: a late reply is dropped
	}
	return v, err
}

// RequestAsync sends a request and returns its pending result at once
// (RPyC's async_).
func (c *Conn) RequestAsync(handler int, args ...any) (*dispatch.AsyncResult, error) {
	return c.startRequest(handler, func(dst []byte) ([]byte, error) {
		return c.appendBoxItems(dst, args)
	})
}

// startRequest registers a pending result and sends the request (handler,
// the boxed args that appendArgs appends); a failed send drops the entry.
func (c *Conn) startRequest(handler int, appendArgs func([]byte) ([]byte, error)) (*dispatch.AsyncResult, error) {
	seq, r, err := c.pending.Register()
	if err != nil {
		return nil, err
	}
	err = c.send(codec.MsgRequest, seq, direct, func(dst []byte) ([]byte, error) {
		dst = codec.AppendTupleHeader(dst, 2)
		dst = codec.AppendInt(dst, int64(handler))
		return appendArgs(dst)
	})
	if err != nil {
		c.pending.Cancel(seq)
		return nil, err
	}
	return r, nil
}

// Notify sends a request whose reply is not awaited (events, fire and
// forget); the reply, when it comes, is dropped.
func (c *Conn) Notify(handler int, args ...any) error {
	return c.sendRequest(c.pending.NextSeq(), handler, args, direct)
}

// Release sends HANDLE_DEL for count references to the peer's object id. It
// is called by proxies when they are closed or collected.
func (c *Conn) Release(id netref.IDPack, count int64) {
	c.forgetProxy(id)
	if c.closed.Load() || count <= 0 {
		return
	}
	// Called from the runtime's cleanup goroutine too: never wait.
	_ = c.sendRequest(c.pending.NextSeq(), netref.HandleDel, []any{releasedRef{id}, count}, queued)
}

// releasedRef boxes as LOCAL_REF of an id without a live proxy.
type releasedRef struct{ id netref.IDPack }

// Root returns the peer's root object (HANDLE_GETROOT), fetched once per
// connection.
func (c *Conn) Root(ctx context.Context) (*netref.Proxy, error) {
	c.rootMu.Lock()
	p := c.rootProxy
	c.rootMu.Unlock()
	if p != nil {
		return p, nil
	}
	// No lock is held while the request waits: the waiting goroutine may
	// read the connection itself (pump.go), and so run its shutdown.
	// Callers racing here get the same proxy: the connection hands out one
	// proxy per remote object.
	v, err := c.Request(ctx, netref.HandleGetRoot)
	if err != nil {
		return nil, err
	}
	p, ok := v.(*netref.Proxy)
	if !ok {
		return nil, fmt.Errorf("%w: GETROOT answered %T", ErrProtocol, v)
	}
	c.rootMu.Lock()
	if c.rootProxy == nil && !c.closed.Load() { // shutdown drops the cache
		c.rootProxy = p
	}
	c.rootMu.Unlock()
	return p, nil
}

// pingData is what Python's conn.ping() sends.
var pingData = strings.Repeat("abcdefghijklmnopqrstuvwxyz", 20)

// ErrPing: the peer echoed something else than it was sent.
var ErrPing = fmt.Errorf("conn: ping echo mismatch")

// Ping sends PING with the payload Python uses and checks the echo.
func (c *Conn) Ping(ctx context.Context) error {
	v, err := c.Request(ctx, netref.HandlePing, pingData)
	if err != nil {
		return err
	}
	if s, ok := v.(string); !ok || s != pingData {
		return ErrPing
	}
	return nil
}

// Call calls an exposed method of the peer's root in one round trip
// (CALLATTR): c.Call(ctx, "echo", 1) is Python's conn.root.echo(1).
func (c *Conn) Call(ctx context.Context, method string, args ...any) (any, error) {
	root, err := c.Root(ctx)
	if err != nil {
		return nil, err
	}
	return root.CallMethod(ctx, method, args...)
}
