package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

func init() { engines[EngineNetpoll] = newNetpoll }

// netpollSetup records the one call of netpoll.Configure in this process.
var netpollSetup struct {
	once  sync.Once
	err   error
	loops int
}

// configureNetpoll calls netpoll.Configure the first time a netpoll engine
// is made, and never again: netpoll's pollers, buffer sizes and logger are
// process-wide, and Configure is not safe once pollers run. The first
// engine's Loops (when > 0) sets the number of pollers and its Logger
// receives netpoll's log lines; later engines share them.
func configureNetpoll(cfg *Config, log zerolog.Logger) error {
	netpollSetup.once.Do(func() {
		nc := netpoll.Config{LoadBalance: netpoll.RoundRobin, LoggerOutput: netpollLogWriter{log}}
		if cfg.Loops > 0 {
			nc.PollerNum = cfg.Loops
		}
		netpollSetup.loops = cfg.Loops
		netpollSetup.err = netpoll.Configure(nc)
	})
	if netpollSetup.err != nil {
		return fmt.Errorf("reactor: netpoll configure: %w", netpollSetup.err)
	}
	if cfg.Loops > 0 && cfg.Loops != netpollSetup.loops {
		log.Warn().Int("loops", cfg.Loops).Int("configured", netpollSetup.loops).
			Msg("netpoll's pollers are process-wide: the first netpoll engine's Loops stays in force")
	}
	return nil
}

// npEngine drives connections with netpoll: its pollers read into
// netpoll's buffers and its goroutine pool runs a connection's handler only
// while the connection has input.
type npEngine struct {
	cfg Config
	log zerolog.Logger
	st  engineState
}

func newNetpoll(cfg Config) (Engine, error) {
	e := &npEngine{cfg: cfg, log: cfg.Logger.With().Str("engine", EngineNetpoll).Logger()}
	if err := configureNetpoll(&e.cfg, e.log); err != nil {
		return nil, err
	}
	e.st.init()
	return e, nil
}

// Name implements Engine.
func (e *npEngine) Name() string { return EngineNetpoll }

// Listen implements Engine.
func (e *npEngine) Listen(network, addr string, h Handler) (Listener, error) {
	if e.st.isClosed() {
		return nil, ErrEngineClosed
	}
	ln, err := listenSocket(network, addr, &e.cfg)
	if err != nil {
		return nil, err
	}
	return e.serve(ln, h)
}

// Serve implements Engine: a *net.TCPListener or *net.UnixListener is
// served by a netpoll server on a duplicate of its descriptor; other
// listeners (crypto/tls) get ErrUnsupported.
func (e *npEngine) Serve(ln net.Listener, h Handler) (Listener, error) {
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
	default:
		return nil, fmt.Errorf("reactor: netpoll cannot serve a %T: %w", ln, ErrUnsupported)
	}
	if e.st.isClosed() {
		return nil, ErrEngineClosed
	}
	return e.serve(ln, h)
}

func (e *npEngine) serve(ln net.Listener, h Handler) (Listener, error) {
	fd, err := dupFD(ln)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		_ = ln.Close()
		return nil, err
	}
	s := &npServer{e: e, h: h, done: make(chan struct{})}
	s.ln = &npListener{s: s, fd: fd, addr: ln.Addr(), orig: ln, tcp: ln.Addr().Network() != "unix", running: make(chan struct{})}
	evl, err := netpoll.NewEventLoop(s.onRequest, netpoll.WithOnPrepare(s.onPrepare), netpoll.WithOnConnect(s.onConnect))
	if err != nil {
		_ = s.ln.Close()
		return nil, err
	}
	s.evl = evl
	if !e.st.goTracked(func() {
		if err := evl.Serve(s.ln); err != nil {
			e.log.Debug().Err(err).Msg("netpoll server ended")
		}
		close(s.done)
	}) {
		_ = s.ln.Close()
		return nil, ErrEngineClosed
	}
	// Wait until netpoll registers the listener: Shutdown before that
	// would be lost and leave Serve running.
	select {
	case <-s.ln.running:
	case <-s.done:
		_ = s.ln.Close()
		return nil, fmt.Errorf("reactor: netpoll could not serve %s", ln.Addr())
	}
	// Tracked only now, so that Engine.Close never stops a server whose
	// Serve has not started.
	if !e.st.trackListener(s) {
		s.stop()
		return nil, ErrEngineClosed
	}
	e.log.Debug().Stringer("addr", ln.Addr()).Msg("listening")
	return s, nil
}

// ServeConn implements Engine: nc's socket moves to netpoll (on a
// duplicate descriptor; nc is closed). Connections without a socket of
// their own, such as *tls.Conn, get ErrUnsupported and stay open.
func (e *npEngine) ServeConn(nc net.Conn, h Handler) (Conn, error) {
	return e.adopt(nc, h)
}

// Dial implements Engine.
func (e *npEngine) Dial(ctx context.Context, network, addr string, h Handler) (Conn, error) {
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

// adopt hands nc's socket to netpoll and runs OnOpen on the calling
// goroutine before netpoll may call OnRequest.
func (e *npEngine) adopt(nc net.Conn, h Handler) (Conn, error) {
	if !isSocketConn(nc) {
		return nil, fmt.Errorf("reactor: netpoll cannot drive a %T: %w", nc, ErrUnsupported)
	}
	laddr, raddr := nc.LocalAddr(), nc.RemoteAddr()
	_, tcp := nc.(*net.TCPConn)
	fd, err := dupFD(nc)
	_ = nc.Close()
	if err != nil {
		return nil, err
	}
	if err := setConnOptions(fd, tcp, &e.cfg); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	npc, err := netpoll.NewFDConnection(fd) // owns fd from here, also on error
	if err != nil {
		return nil, fmt.Errorf("reactor: netpoll: %w", err)
	}
	c := newNpConn(e, nil, h, npc, fd, laddr, raddr)
	if !e.st.trackConn(c) {
		_ = npc.Close()
		return nil, ErrEngineClosed
	}
	c.mu.Lock()
	c.opened = true
	c.inHandler = true
	c.mu.Unlock()
	openErr := h.OnOpen(c)
	_ = npc.AddCloseCallback(c.closedByNetpoll)
	c.endHandler(openErr)
	if openErr != nil {
		return nil, openErr
	}
	_ = npc.SetOnRequest(func(context.Context, netpoll.Connection) error {
		c.request()
		return nil
	})
	// A hang-up before OnRequest was set runs no close callbacks; closing
	// from here runs them.
	if !npc.IsActive() {
		_ = npc.Close()
	}
	return c, nil
}

// Close implements Engine.
func (e *npEngine) Close() error {
	lns, conns, first := e.st.shut()
	var servers []*npServer
	for _, l := range lns {
		s := l.(*npServer)
		s.gated.Store(true)
		servers = append(servers, s)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	e.st.connWG.Wait()
	for _, s := range servers {
		s.stop()
	}
	e.st.wait()
	if first {
		e.log.Debug().Msg("engine closed")
	}
	return nil
}

// npServer is a netpoll event loop serving one listening socket.
type npServer struct {
	e        *npEngine
	h        Handler
	ln       *npListener
	evl      netpoll.EventLoop
	gated    atomic.Bool // new connections are closed on accept
	conns    atomic.Int64
	closed   atomic.Bool
	stopOnce sync.Once
	done     chan struct{} // closed when evl.Serve has returned
}

// Addr implements Listener.
func (s *npServer) Addr() net.Addr { return s.ln.addr }

// Close implements Listener. New connections are closed as they are
// accepted; the netpoll server, and with it the socket, stops when its last
// connection has closed (here, if it has none).
func (s *npServer) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.gated.Store(true)
	s.e.st.untrackListener(s)
	if s.conns.Load() == 0 {
		s.stop()
	}
	return nil
}

// stop shuts the netpoll server down and waits for Serve to return.
func (s *npServer) stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.evl.Shutdown(ctx); err != nil {
			s.e.log.Debug().Err(err).Msg("netpoll shutdown")
		}
		<-s.done
	})
}

// connClosed runs in a connection's close callback, while the connection
// is still tracked.
func (s *npServer) connClosed() {
	if s.conns.Add(-1) == 0 && s.gated.Load() {
		s.e.st.goForConn(s.stop)
	}
}

// npCtx is the context netpoll passes to a server connection's callbacks.
type npCtx struct {
	context.Context
	c *npConn
}

// onPrepare runs on the poller for each accepted connection, before it is
// registered.
func (s *npServer) onPrepare(nc netpoll.Connection) context.Context {
	fdc, ok := nc.(interface{ Fd() int })
	if !ok {
		_ = nc.Close()
		return context.Background()
	}
	c := newNpConn(s.e, s, s.h, nc, fdc.Fd(), nc.LocalAddr(), nc.RemoteAddr())
	if !s.e.st.trackConn(c) {
		_ = nc.Close()
		return context.Background()
	}
	s.conns.Add(1)
	_ = nc.AddCloseCallback(c.closedByNetpoll)
	return &npCtx{Context: context.Background(), c: c}
}

// onConnect runs OnOpen on netpoll's goroutine pool; netpoll runs it
// before the connection's first OnRequest and never beside one.
func (s *npServer) onConnect(ctx context.Context, _ netpoll.Connection) context.Context {
	if x, ok := ctx.(*npCtx); ok {
		x.c.open()
	}
	return ctx
}

// onRequest runs on netpoll's goroutine pool while the connection has
// input, one call at a time per connection.
func (s *npServer) onRequest(ctx context.Context, nc netpoll.Connection) error {
	if x, ok := ctx.(*npCtx); ok {
		x.c.request()
		return nil
	}
	// Not ours (the engine closed during its prepare): drain and drop.
	r := nc.Reader()
	_ = r.Skip(r.Len())
	return r.Release()
}

// npListener is the netpoll.Listener of an npServer: a duplicate of the
// listening descriptor, accepted on without blocking.
type npListener struct {
	s           *npServer
	fd          int
	addr        net.Addr
	orig        net.Listener
	tcp         bool
	running     chan struct{} // closed when netpoll registers the listener
	runningOnce sync.Once
	closeOnce   sync.Once
}

// Accept implements net.Listener for netpoll's server, which calls it when
// the socket is readable and reads (nil, nil) as "nothing to accept".
func (l *npListener) Accept() (net.Conn, error) {
	for {
		nfd, sa, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return nil, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			continue
		default:
			return nil, err // a bare Errno: netpoll retries EMFILE itself
		}
		if l.s.gated.Load() {
			_ = unix.Close(nfd)
			continue
		}
		if err := setConnOptions(nfd, l.tcp, &l.s.e.cfg); err != nil {
			l.s.e.log.Debug().Err(err).Msg("socket options")
		}
		return &npAccepted{fd: nfd, laddr: l.addr, raddr: sockaddrToAddr(sa)}, nil
	}
}

// Close implements net.Listener.
func (l *npListener) Close() error {
	l.closeOnce.Do(func() {
		_ = unix.Close(l.fd)
		_ = l.orig.Close()
	})
	return nil
}

// Addr implements net.Listener.
func (l *npListener) Addr() net.Addr { return l.addr }

// Fd implements netpoll.Listener. netpoll's server asks for it when it
// registers the listener.
func (l *npListener) Fd() int {
	l.runningOnce.Do(func() { close(l.running) })
	return l.fd
}

// npAccepted carries an accepted descriptor to netpoll, which reads only
// its Fd and addresses and owns the descriptor from then on.
type npAccepted struct {
	fd           int
	laddr, raddr net.Addr
}

func (a *npAccepted) Fd() int                          { return a.fd }
func (a *npAccepted) LocalAddr() net.Addr              { return a.laddr }
func (a *npAccepted) RemoteAddr() net.Addr             { return a.raddr }
func (a *npAccepted) Read([]byte) (int, error)         { return 0, ErrUnsupported }
func (a *npAccepted) Write([]byte) (int, error)        { return 0, ErrUnsupported }
func (a *npAccepted) Close() error                     { return unix.Close(a.fd) }
func (a *npAccepted) SetDeadline(time.Time) error      { return ErrUnsupported }
func (a *npAccepted) SetReadDeadline(time.Time) error  { return ErrUnsupported }
func (a *npAccepted) SetWriteDeadline(time.Time) error { return ErrUnsupported }

// netpollLogWriter passes netpoll's log lines to zerolog.
type netpollLogWriter struct{ l zerolog.Logger }

func (w netpollLogWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
