package reactor

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
)

// Engine names accepted by New.
const (
	EngineGnet    = "gnet"
	EngineNetpoll = "netpoll"
	EngineStdnet  = "stdnet"
)

// Conn is one connection of an engine. It is safe for concurrent use: Write,
// WaitWritable, Queued and Close may be called from any goroutine.
type Conn interface {
	// Write queues a copy of b (b is never kept) and returns without
	// blocking. Frames given in separate Writes are sent in order, several
	// per system call when they are queued together. Write returns
	// ErrQueueFull, queueing nothing, when the queued bytes would pass
	// Config.MaxQueued (a write larger than the limit is accepted only by an
	// empty queue), and ErrClosed once the connection is closing.
	Write(b []byte) error
	// WaitWritable blocks until the queued bytes drop below half of
	// Config.MaxQueued, the connection closes (ErrClosed) or ctx ends. It
	// must not be called from a handler: the event loop it would block is
	// the one that drains the queue. Called from the connection's own
	// handler it returns ErrInHandler at once; from another connection's
	// handler it cannot tell, and blocks that loop.
	WaitWritable(ctx context.Context) error
	// Queued reports the bytes written but not yet taken by the socket.
	Queued() int
	// Close closes the connection. It is idempotent and does not wait:
	// queued bytes are flushed when the socket takes them (stdnet waits up
	// to Config.CloseTimeout), then OnClose runs on the connection's loop.
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// SetContext and Context store and return per-connection user data.
	SetContext(v any)
	Context() any
	// Engine names the engine that drives the connection.
	Engine() string
}

// Handler receives a connection's events. OnOpen, OnData and OnClose of one
// connection are never concurrent. They run on the engine's event loop
// (gnet), a netpoll pool goroutine (netpoll) or the connection's goroutine
// (stdnet), and must not block.
type Handler interface {
	// OnOpen runs first. An error closes the connection.
	OnOpen(c Conn) error
	// OnData hands over bytes that arrived. p belongs to the engine and is
	// valid only during the call: copy what you keep. An error closes the
	// connection.
	OnData(c Conn, p []byte) error
	// OnClose runs exactly once for every connection whose OnOpen ran (also
	// when OnOpen failed), after its last OnData. err is nil for a clean
	// close (the peer's EOF, Close, Engine.Close) and otherwise the error
	// that ended the connection: the handler's own, or the socket's.
	OnClose(c Conn, err error)
}

// Listener is a listening socket served by an engine.
type Listener interface {
	// Addr is the address the socket is bound to (the chosen port when the
	// address asked for port 0).
	Addr() net.Addr
	// Close stops handing new connections to the handler. Connections
	// already open stay open. On gnet and netpoll the listening socket
	// belongs to a server that also owns its connections, so the socket is
	// released when its last connection has closed or at Engine.Close;
	// until then connection attempts are accepted and closed at once.
	Close() error
}

// Engine accepts and dials connections and drives them.
type Engine interface {
	// Name is "gnet", "netpoll" or "stdnet".
	Name() string
	// Listen binds network ("tcp", "tcp4", "tcp6" or "unix") and addr and
	// hands each accepted connection to h.
	Listen(network, addr string, h Handler) (Listener, error)
	// Serve takes ownership of ln and hands its connections to h. stdnet
	// serves any net.Listener (crypto/tls ones too); gnet and netpoll need a
	// *net.TCPListener or *net.UnixListener and return ErrUnsupported for
	// others.
	Serve(ln net.Listener, h Handler) (Listener, error)
	// ServeConn takes ownership of an accepted or dialled nc and drives it
	// with h; OnOpen has run when it returns. stdnet takes any net.Conn;
	// gnet and netpoll take a socket (*net.TCPConn, *net.UnixConn, or one
	// made by net.FileConn from a descriptor received over SCM_RIGHTS) and
	// return ErrUnsupported for others, such as *tls.Conn.
	ServeConn(nc net.Conn, h Handler) (Conn, error)
	// Dial connects to addr and drives the connection with h on this
	// engine's loops. OnOpen has run when Dial returns; if it failed, Dial
	// returns its error (and OnClose runs as for any connection). Dial
	// blocks: never call it from a handler.
	Dial(ctx context.Context, network, addr string, h Handler) (Conn, error)
	// Close closes the listeners and the connections (OnClose runs for
	// each) and returns when every goroutine the engine started has ended.
	// Calling it again returns nil.
	Close() error
}

type constructor func(cfg Config) (Engine, error)

// engines holds the constructors available on this platform.
var engines = map[string]constructor{
	EngineStdnet: newStdnet,
}

// Engines lists the engine names New accepts on this platform.
func Engines() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the engine called name ("gnet" when name is empty) configured
// by cfg; zero fields of cfg take their defaults (see Config). gnet and
// netpoll exist on Linux only.
//
// netpoll is configured for the whole process: the first netpoll engine
// calls netpoll.Configure, once, with its Loops (as the number of pollers,
// when > 0) and its Logger; later netpoll engines share them. Nothing else
// in the process should configure netpoll, and it should not have been used
// before.
func New(name string, cfg Config) (Engine, error) {
	if name == "" {
		name = EngineGnet
	}
	mk, ok := engines[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %s)", ErrUnknownEngine, name, strings.Join(Engines(), ", "))
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return mk(cfg)
}

// checkNetwork rejects the networks the engines do not serve.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return nil
	}
	return fmt.Errorf("reactor: network %q: %w", network, ErrUnsupported)
}
