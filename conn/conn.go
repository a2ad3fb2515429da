package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

// Transport carries a connection's outgoing bytes. Write receives one whole
// frame; it is called from many goroutines at once and must write each frame
// whole (never interleaved with another), in the order of the calls of any
// one goroutine; it must not keep b after it returns. Close ends the
// transport (the socket); it may be called more than once.
type Transport interface {
	Write(b []byte) error
	Close() error
}

// Service provides the root object a connection exposes to its peer.
// Attach runs when the connection starts (before any frame is read) and
// returns the root; Detach runs once after the connection has closed.
type Service interface {
	Attach(c *Conn) (netref.Object, error)
	Detach(c *Conn)
}

// LazyService is a Service whose Attach may wait until the peer first
// sends something, because nothing Attach does matters to a peer that has
// not spoken: no on-connect hook calls the peer or registers the
// connection to push to it. A server then holds a silent connection
// without any protocol state (no Conn at all), which makes tens of
// thousands of idle connections cheap. A Python client sends nothing until
// its first request either, so it cannot tell.
type LazyService interface {
	Service
	AttachLazily() bool
}

// Conn is one RPyC connection, symmetric: both sides can make requests.
// It is safe for concurrent use.
type Conn struct {
	cfg     Config
	t       Transport
	svc     Service
	root    netref.Object
	id      uint64
	exec    dispatch.Executor
	pending *dispatch.Table

	ctx    context.Context // carries the Conn; cancelled at close
	cancel context.CancelFunc

	// Read side: used only by the goroutine that calls Feed.
	fdec      *codec.FrameDecoder
	format    atomic.Uint32 // codec.Format in use
	repliesIn uint64        // replies and exceptions read
	// rd, for a client over a socket, lets sync callers read it (pump.go).
	rd *netReader
	// inlineCtx is the context of methods served inline (made once).
	inlineCtx context.Context

	enc *codec.FrameEncoder // safe for concurrent use

	objs     *objectTable
	inflight atomic.Int64 // requests handed to the executor and not answered

	pmu     sync.Mutex
	proxies map[netref.IDPack]weak.Pointer[netref.Proxy]

	rootMu    sync.Mutex
	rootProxy *netref.Proxy

	// Requests that arrive before Service.Attach has returned wait here, so
	// an on-connect hook can call the peer while its replies are read.
	attachMu   sync.Mutex
	attached   atomic.Bool
	early      []earlyRequest
	attachDone chan struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

var connIDs atomic.Uint64

type ctxKey struct{}

// FromContext returns the connection a request is being served on, or nil.
// Handlers of services receive such a context.
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}

// New creates a connection over t that exposes svc (the void service when
// nil). Bytes read from the peer must be passed to Feed. New calls
// svc.Attach before returning.
func New(t Transport, svc Service, opts ...Option) (*Conn, error) {
	cfg := buildConfig(opts)
	if svc == nil {
		svc = cfg.Service
	}
	if svc == nil {
		svc = voidService{}
	}
	c := &Conn{
		cfg:     cfg,
		t:       t,
		svc:     svc,
		id:      connIDs.Add(1),
		exec:    cfg.Executor,
		pending: dispatch.NewTable(),
		fdec:    codec.NewFrameDecoder(cfg.Limits),
		enc:     codec.NewFrameEncoder(),
		objs:    newObjectTable(cfg.MaxObjects),
		done:    make(chan struct{}),

		attachDone: make(chan struct{}),
	}
	c.enc.Compress = cfg.Compress
	if cfg.ConnID != 0 {
		c.id = cfg.ConnID
	}
	if c.exec == nil {
		c.exec = dispatch.Goroutines{}
	}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(context.Background(), ctxKey{}, c))
	go c.attach()
	return c, nil
}

type earlyRequest struct {
	seq  int64
	args any
}

// attach runs the service's Attach (its on-connect hook) on a goroutine of
// its own while the connection already reads, then serves the requests that
// arrived meanwhile, in order.
func (c *Conn) attach() {
	root, err := c.safeAttach()
	if err != nil {
		close(c.attachDone)
		c.cfg.Logger.Warn().Err(err).Uint64("conn", c.id).Msg("service refused the connection")
		c.shutdown(fmt.Errorf("conn: service attach: %w", err), false)
		return
	}
	c.root = root // published to handlers by attached.Store below
	c.attachMu.Lock()
	for len(c.early) > 0 {
		q := c.early
		c.early = nil
		c.attachMu.Unlock()
		for _, r := range q {
			if _, err := c.dispatchRequest(r.seq, r.args, direct, false); err != nil {
				c.failFeed(err)
			}
		}
		c.attachMu.Lock()
	}
	c.attached.Store(true)
	c.attachMu.Unlock()
	close(c.attachDone)
}

// safeAttach runs the service's Attach; a panic in it refuses this
// connection (logged once) instead of ending the process.
func (c *Conn) safeAttach() (root netref.Object, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.cfg.Logger.Error().Uint64("conn", c.id).Interface("panic", r).
				Bytes("stack", debug.Stack()).Msg("service panicked on connect")
			root, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return c.svc.Attach(c)
}

// safeDetach runs the service's Detach; a panic in it is logged once.
func (c *Conn) safeDetach() {
	defer func() {
		if r := recover(); r != nil {
			c.cfg.Logger.Error().Uint64("conn", c.id).Interface("panic", r).
				Bytes("stack", debug.Stack()).Msg("service panicked on disconnect")
		}
	}()
	c.svc.Detach(c)
}

// AttachDone is closed once the service's Attach (on-connect hook) has
// returned.
func (c *Conn) AttachDone() <-chan struct{} { return c.attachDone }

// ID is a number that identifies the connection; it is never reused within
// this process (or within a server that assigns IDs with WithConnID).
func (c *Conn) ID() uint64 { return c.id }

// Context is cancelled when the connection closes; it carries the Conn
// (FromContext).
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection closed (nil while open, ErrClosed after a local
// Close).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.closeErr
	default:
		return nil
	}
}

// Closed reports whether the connection has closed.
func (c *Conn) Closed() bool { return c.closed.Load() }

// Format is the message layout in use: the peer's once it has spoken,
// otherwise the configured default.
func (c *Conn) Format() codec.Format {
	if f := codec.Format(c.format.Load()); f != codec.FormatUnknown {
		return f
	}
	return c.cfg.Format
}

// Config returns the connection's configuration.
func (c *Conn) Config() Config { return c.cfg }

// LocalRoot is the root object this side exposes.
func (c *Conn) LocalRoot() netref.Object { return c.root }

// Service is the service this side exposes.
func (c *Conn) Service() Service { return c.svc }

// HeldObjects is how many local objects the peer holds references to.
func (c *Conn) HeldObjects() int { return c.objs.len() }

// Feed passes bytes read from the peer. It decodes whole frames, completes
// the calls their replies answer and hands requests to the executor; it
// never waits for the peer. A returned error is fatal to the connection: the
// connection has been closed with it.
func (c *Conn) Feed(p []byte) error {
	if c.closed.Load() {
		return c.closeErrOr(ErrClosed)
	}
	if err := c.fdec.Feed(p, c.handlePayload); err != nil {
		return c.failFeed(err)
	}
	return nil
}

// failFeed closes the connection after an error while reading.
func (c *Conn) failFeed(err error) error {
	if errors.Is(err, errCloseRequested) {
		c.shutdown(ErrPeerClosed, false)
		return ErrPeerClosed
	}
	if !c.closed.Load() {
		ev := c.cfg.Logger.Warn().Err(err).Uint64("conn", c.id)
		if a := c.RemoteAddr(); a != nil {
			ev = ev.Str("peer", a.String())
		}
		ev.Msg("protocol error, closing connection")
	}
	c.shutdown(err, false)
	return err
}

// FeedEOF tells the connection that the peer's stream ended (err may be nil
// for a clean EOF). The connection closes; pending calls fail.
func (c *Conn) FeedEOF(err error) {
	if err == nil {
		err = io.EOF
	}
	c.shutdown(err, false)
}

// Close sends CLOSE to the peer (without waiting), closes the transport,
// fails every pending call with ErrClosed and releases both object tables.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed, true)
	return nil
}

// closeErrOr must only be called once closed has been observed true.
func (c *Conn) closeErrOr(def error) error {
	if c.closeErr != nil {
		return c.closeErr
	}
	return def
}

func (c *Conn) shutdown(cause error, sendClose bool) {
	c.closeOnce.Do(func() {
		if sendClose {
			// Best effort: the peer may already be gone.
			_ = c.sendRequest(c.pending.NextSeq(), netref.HandleClose, nil, direct)
		}
		c.closeErr = cause // published by the store below
		c.closed.Store(true)
		_ = c.t.Close()
		c.pending.FailAll(cause)
		c.cancel()
		c.objs.clear()
		c.pmu.Lock()
		clear(c.proxies)
		c.pmu.Unlock()
		// The root proxy's cleanup holds this Conn (its peer): while the
		// Conn holds the proxy, neither can ever be collected.
		c.rootMu.Lock()
		c.rootProxy = nil
		c.rootMu.Unlock()
		// Detach runs once Attach has returned (it fails fast now that
		// pending calls have failed), off the caller's goroutine.
		go func() {
			<-c.attachDone
			if c.root != nil {
				c.safeDetach()
			}
			close(c.done)
		}()
	})
}

// Errors of a connection.
var (
	// ErrClosed: the connection was closed by this side.
	ErrClosed = fmt.Errorf("conn: connection closed: %w", dispatch.ErrClosed)
	// ErrPeerClosed: the peer sent CLOSE.
	ErrPeerClosed = fmt.Errorf("conn: peer closed the connection: %w", dispatch.ErrClosed)
	// ErrProtocol: the peer sent something that is not RPyC.
	ErrProtocol = errors.New("conn: protocol error")

	errCloseRequested = errors.New("close requested")
)

// RemoteAddr returns the peer's address when the transport knows it.
func (c *Conn) RemoteAddr() net.Addr {
	if a, ok := c.t.(interface{ RemoteAddr() net.Addr }); ok {
		return a.RemoteAddr()
	}
	return nil
}
