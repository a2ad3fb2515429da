package reactor

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

func init() { engines[EngineGnet] = newGnet }

// gnetRuns numbers the gnet server engines of the process.
var gnetRuns atomic.Uint64

// gnetEngine runs a gnet server engine per Listen and one gnet client
// engine, started on first use, for Dial, ServeConn and Serve.
type gnetEngine struct {
	cfg Config
	log zerolog.Logger
	st  engineState

	clientMu sync.Mutex
	client   *gnet.Client
}

func newGnet(cfg Config) (Engine, error) {
	e := &gnetEngine{cfg: cfg, log: cfg.Logger.With().Str("engine", EngineGnet).Logger()}
	e.st.init()
	return e, nil
}

// Name implements Engine.
func (e *gnetEngine) Name() string { return EngineGnet }

func (e *gnetEngine) options(server bool) []gnet.Option {
	nodelay := gnet.TCPNoDelay
	if !e.cfg.TCPNoDelay {
		nodelay = gnet.TCPDelay
	}
	return []gnet.Option{
		gnet.WithNumEventLoop(e.cfg.loops()),
		gnet.WithReadBufferCap(e.cfg.readBufferSize(EngineGnet)),
		gnet.WithReuseAddr(e.cfg.ReuseAddr),
		gnet.WithReusePort(e.cfg.ReusePort),
		gnet.WithTCPNoDelay(nodelay),
		gnet.WithTCPKeepAlive(e.cfg.KeepAlive),
		// Probes every KeepAlive too, as the other engines (and the
		// standard library) do; gnet's own default is a fifth of it.
		gnet.WithTCPKeepInterval(e.cfg.KeepAlive),
		gnet.WithLogger(gnetLogger{e.log}),
		// The server's first tick tells Listen that its loops run.
		gnet.WithTicker(server),
	}
}

// Listen implements Engine: a gnet server engine of its own serves the
// address.
func (e *gnetEngine) Listen(network, addr string, h Handler) (Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if e.st.isClosed() {
		return nil, ErrEngineClosed
	}
	switch {
	case network == "unix":
		// gnet removes whatever is at the path before it binds; refuse
		// as net.Listen would.
		if _, err := os.Lstat(addr); err == nil {
			return nil, &net.OpError{Op: "listen", Net: network, Addr: &net.UnixAddr{Name: addr, Net: network},
				Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
		}
	case e.cfg.ReusePort:
		if _, port, err := net.SplitHostPort(addr); err == nil && (port == "" || port == "0") {
			return nil, fmt.Errorf("reactor: gnet with ReusePort binds a socket per loop and needs an explicit port, not %q", addr)
		}
	}

	s := &gnetServer{e: e, h: h, done: make(chan struct{})}
	ev := &gnetEvents{e: e, srv: s, ready: make(chan struct{})}
	// gnet.Run keeps every engine in a process-wide map under its
	// address, and only the deprecated gnet.Stop deletes it. A query gnet
	// ignores makes the key ours alone, so that gnet.Stop, called once Run
	// has returned, drops our entry and cannot touch another engine.
	protoAddr := fmt.Sprintf("%s://%s?reactor=%d", network, addr, gnetRuns.Add(1))
	opts := e.options(true)
	if !e.st.goTracked(func() {
		s.runErr = gnet.Run(ev, protoAddr, opts...)
		_ = gnet.Stop(context.Background(), protoAddr) //nolint:staticcheck // see above
		close(s.done)
	}) {
		return nil, ErrEngineClosed
	}
	select {
	case <-ev.ready:
	case <-s.done:
		return nil, fmt.Errorf("reactor: gnet listen %s %s: %w", network, addr, s.runErr)
	}
	if err := s.inspect(e.cfg.Backlog); err != nil {
		s.stop()
		<-s.done
		return nil, err
	}
	if !e.st.trackListener(s) {
		s.stop()
		<-s.done
		return nil, ErrEngineClosed
	}
	e.log.Debug().Stringer("addr", s.addr).Int("loops", e.cfg.loops()).Msg("listening")
	return s, nil
}

// Serve implements Engine. gnet opens its own listening sockets, so a
// *net.TCPListener or *net.UnixListener is served by accepting on a
// goroutine and handing each connection to the client engine's loops; other
// listeners (crypto/tls) get ErrUnsupported.
func (e *gnetEngine) Serve(ln net.Listener, h Handler) (Listener, error) {
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
	default:
		return nil, fmt.Errorf("reactor: gnet cannot serve a %T: %w", ln, ErrUnsupported)
	}
	return serveAccepting(&e.st, e.log, ln, func(nc net.Conn) error {
		_, err := e.adopt(nc, h)
		return err
	})
}

// ServeConn implements Engine: nc's socket moves to a client loop (gnet
// duplicates the descriptor and closes nc). Connections without a socket
// of their own, such as *tls.Conn, get ErrUnsupported and stay open.
func (e *gnetEngine) ServeConn(nc net.Conn, h Handler) (Conn, error) {
	return e.adopt(nc, h)
}

// Dial implements Engine.
func (e *gnetEngine) Dial(ctx context.Context, network, addr string, h Handler) (Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if e.st.isClosed() {
		return nil, ErrEngineClosed
	}
	d := net.Dialer{KeepAlive: keepAliveFor(&e.cfg), KeepAliveConfig: e.cfg.keepAliveConfig()}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return e.adopt(nc, h)
}

// adopt moves nc to a loop of the client engine and waits for OnOpen.
func (e *gnetEngine) adopt(nc net.Conn, h Handler) (Conn, error) {
	if !isSocketConn(nc) {
		return nil, fmt.Errorf("reactor: gnet cannot drive a %T: %w", nc, ErrUnsupported)
	}
	c := newGnetConn(e, nil, h, nc.LocalAddr(), nc.RemoteAddr())
	// Tracked before it reaches a loop: Close waits for its OnClose before
	// it stops the client engine, so the loop outlives the enrolment.
	if !e.st.trackConn(c) {
		_ = nc.Close()
		return nil, ErrEngineClosed
	}
	cli, err := e.clientEngine()
	if err != nil {
		_ = nc.Close()
		e.st.connDone(c)
		return nil, err
	}
	// EnrollContext duplicates the descriptor, closes nc, and returns once
	// OnOpen has run on the loop.
	if _, err := cli.EnrollContext(nc, c); err != nil {
		e.st.connDone(c)
		return nil, fmt.Errorf("reactor: gnet enrol: %w", err)
	}
	c.mu.Lock()
	failed, err := c.openFailed, c.closeErr
	c.mu.Unlock()
	if failed {
		return nil, err
	}
	return c, nil
}

// clientEngine starts the client engine on first use.
func (e *gnetEngine) clientEngine() (*gnet.Client, error) {
	e.clientMu.Lock()
	defer e.clientMu.Unlock()
	if e.client != nil {
		return e.client, nil
	}
	cli, err := gnet.NewClient(&gnetEvents{e: e}, e.options(false)...)
	if err != nil {
		return nil, fmt.Errorf("reactor: gnet client: %w", err)
	}
	if err := cli.Start(); err != nil {
		return nil, fmt.Errorf("reactor: gnet client: %w", err)
	}
	e.client = cli
	return cli, nil
}

// Close implements Engine.
func (e *gnetEngine) Close() error {
	lns, conns, first := e.st.shut()
	var servers []*gnetServer
	for _, l := range lns {
		if s, ok := l.(*gnetServer); ok {
			s.gated.Store(true)
			servers = append(servers, s)
		} else {
			_ = l.Close()
		}
	}
	// Close the connections while the loops run, so that each flushes and
	// gets its OnClose, then stop the engines.
	for _, c := range conns {
		_ = c.Close()
	}
	e.st.connWG.Wait()
	for _, s := range servers {
		s.stop()
	}
	e.clientMu.Lock()
	cli := e.client
	e.client = nil
	e.clientMu.Unlock()
	if cli != nil {
		if err := cli.Stop(); err != nil {
			e.log.Debug().Err(err).Msg("gnet client stop")
		}
	}
	e.st.wait()
	if first {
		e.log.Debug().Msg("engine closed")
	}
	return nil
}

// gnetServer is one gnet server engine serving one listening address.
type gnetServer struct {
	e    *gnetEngine
	h    Handler
	geng gnet.Engine // set by OnBoot before the loops start
	addr net.Addr
	// gated stops new connections from reaching the handler.
	gated atomic.Bool
	// conns counts the open connections; a gated server stops when it
	// drops to zero.
	conns    atomic.Int64
	stopOnce sync.Once
	closed   atomic.Bool
	done     chan struct{} // closed when gnet.Run has returned
	runErr   error
}

// inspect reads the bound address and applies the backlog, through a
// duplicate of the listening descriptor.
func (s *gnetServer) inspect(backlog int) error {
	fd, err := s.geng.Dup()
	if err != nil {
		return fmt.Errorf("reactor: gnet listener: %w", err)
	}
	defer unix.Close(fd)
	if s.addr, err = localAddrOf(fd); err != nil {
		return err
	}
	if backlog > 0 {
		if err := unix.Listen(fd, backlog); err != nil {
			return os.NewSyscallError("listen", err)
		}
	}
	return nil
}

// Addr implements Listener.
func (s *gnetServer) Addr() net.Addr { return s.addr }

// Close implements Listener. New connections stop reaching the handler at
// once; the gnet engine, and with it the listening socket, stops when its
// last connection has closed (here, if it has none).
func (s *gnetServer) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.gated.Store(true)
	s.e.st.untrackListener(s)
	if s.conns.Load() == 0 {
		s.stop()
		<-s.done
	}
	return nil
}

// stop asks the gnet engine to shut down without waiting: Engine.Stop with
// a done context triggers the shutdown and returns; gnet.Run returns once
// the loops have closed their connections.
func (s *gnetServer) stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.geng.Stop(ctx)
	})
}

// connClosed is called on a loop when one of the server's connections has
// closed.
func (s *gnetServer) connClosed() {
	if s.conns.Add(-1) == 0 && s.gated.Load() {
		s.stop()
	}
}

// gnetEvents receives the events of one gnet engine (a server or the
// client) and passes them to the connections' handlers.
type gnetEvents struct {
	gnet.BuiltinEventEngine
	e         *gnetEngine
	srv       *gnetServer // nil for the client engine
	ready     chan struct{}
	readyOnce sync.Once
}

// OnBoot keeps the gnet engine handle of a server.
func (ev *gnetEvents) OnBoot(eng gnet.Engine) gnet.Action {
	if ev.srv != nil {
		ev.srv.geng = eng
	}
	return gnet.None
}

// OnTick fires first once the server's loops run; Listen waits for it.
func (ev *gnetEvents) OnTick() (time.Duration, gnet.Action) {
	if ev.ready != nil {
		ev.readyOnce.Do(func() { close(ev.ready) })
	}
	return time.Hour, gnet.None
}

// OnOpen runs on the loop that owns gc.
func (ev *gnetEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c, _ := gc.Context().(*gnetConn)
	if c == nil {
		// Accepted by a server.
		s := ev.srv
		if s == nil || s.gated.Load() {
			return nil, gnet.Close
		}
		c = newGnetConn(ev.e, s, s.h, gc.LocalAddr(), gc.RemoteAddr())
		if !ev.e.st.trackConn(c) {
			return nil, gnet.Close
		}
		s.conns.Add(1)
		gc.SetContext(c)
	}
	return nil, c.open(gc)
}

// OnTraffic runs on the loop when bytes arrived: all of them go to OnData
// while gnet's buffer is valid, which leaves gnet's inbound buffer empty.
func (ev *gnetEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	p, _ := gc.Next(-1)
	c, _ := gc.Context().(*gnetConn)
	if c == nil || len(p) == 0 {
		return gnet.None
	}
	return c.data(p)
}

// OnClose runs on the loop when gnet has closed gc.
func (ev *gnetEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, _ := gc.Context().(*gnetConn); c != nil {
		c.closedByGnet(err)
	}
	return gnet.None
}

// gnetLogger passes gnet's log lines to zerolog. gnet's logger is
// process-wide: the engine started last sets it.
type gnetLogger struct{ l zerolog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug().Msgf(format, args...) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug().Msgf(format, args...) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Warn().Msgf(format, args...) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Error().Msgf(format, args...) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error().Msgf(format, args...) }
