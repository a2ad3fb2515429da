package reactor

import (
	"context"
	"net"

	"github.com/rs/zerolog"
)

// stdEngine drives connections with the standard library: a reading and a
// writing goroutine per connection.
type stdEngine struct {
	cfg Config
	log zerolog.Logger
	st  engineState
}

func newStdnet(cfg Config) (Engine, error) {
	e := &stdEngine{cfg: cfg, log: cfg.Logger.With().Str("engine", EngineStdnet).Logger()}
	e.st.init()
	return e, nil
}

// Name implements Engine.
func (e *stdEngine) Name() string { return EngineStdnet }

// Listen implements Engine.
func (e *stdEngine) Listen(network, addr string, h Handler) (Listener, error) {
	if e.st.isClosed() {
		return nil, ErrEngineClosed
	}
	ln, err := listenSocket(network, addr, &e.cfg)
	if err != nil {
		return nil, err
	}
	return e.Serve(ln, h)
}

// Serve implements Engine. Any net.Listener will do, crypto/tls ones too.
func (e *stdEngine) Serve(ln net.Listener, h Handler) (Listener, error) {
	return serveAccepting(&e.st, e.log, ln, func(nc net.Conn) error {
		_, err := e.start(nc, h, false)
		return err
	})
}

// ServeConn implements Engine. Any net.Conn will do.
func (e *stdEngine) ServeConn(nc net.Conn, h Handler) (Conn, error) {
	return e.start(nc, h, true)
}

// Dial implements Engine.
func (e *stdEngine) Dial(ctx context.Context, network, addr string, h Handler) (Conn, error) {
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
	return e.start(nc, h, true)
}

// Close implements Engine.
func (e *stdEngine) Close() error {
	lns, conns, first := e.st.shut()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	e.st.wait()
	if first {
		e.log.Debug().Msg("engine closed")
	}
	return nil
}

// start drives nc with h; with wait it returns once OnOpen has run.
func (e *stdEngine) start(nc net.Conn, h Handler, wait bool) (*stdConn, error) {
	if tc, ok := nc.(*net.TCPConn); ok && !e.cfg.TCPNoDelay {
		_ = tc.SetNoDelay(false)
	}
	c := &stdConn{
		e:          e,
		nc:         nc,
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		openDone:   make(chan struct{}),
	}
	c.init(h, e.cfg.MaxQueued, nc.LocalAddr(), nc.RemoteAddr())
	if !e.st.trackConn(c) {
		_ = nc.Close()
		return nil, ErrEngineClosed
	}
	go c.run()
	if !wait {
		return c, nil
	}
	<-c.openDone
	if c.openErr != nil {
		return nil, c.openErr
	}
	return c, nil
}
