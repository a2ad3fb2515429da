package servers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/reactor"
)

// Server is what every policy returns.
type Server interface {
	// Start binds the socket and starts serving; it returns once the server
	// accepts connections (or why it cannot).
	Start() error
	// Addr is the bound address (nil before Start).
	Addr() net.Addr
	// Serve starts the server if it has not started, and serves until ctx
	// ends or the server stops by itself (a one-shot server after its
	// connection); then it closes it, giving in-flight calls
	// DefaultShutdownGrace to finish.
	Serve(ctx context.Context) error
	// Close stops accepting, lets in-flight calls finish until ctx ends,
	// closes the connections and returns when everything the server started
	// has ended. It returns ctx's error when calls had to be cut short.
	Close(ctx context.Context) error
	// Done is closed when the server has stopped (after Close, or by
	// itself).
	Done() <-chan struct{}
}

// DefaultShutdownGrace is how long Serve lets in-flight calls finish once
// its context ends.
const DefaultShutdownGrace = 5 * time.Second

// Errors of servers.
var (
	// ErrServerClosed is returned by Start after Close.
	ErrServerClosed = errors.New("servers: server closed")
	// ErrStarted is returned by Start when the server already started.
	ErrStarted = errors.New("servers: server already started")
)

// kindWorker is the kind of the server inside a process pool's worker.
const kindWorker = "process-worker"

// connIDs numbers the connections of the servers of this process; a
// process pool's master numbers its workers' connections itself.
var connIDs atomic.Uint64

// reactorServer serves connections on a reactor engine in this process;
// the policy decides where requests run.
type reactorServer struct {
	kind string
	cfg  config
	svc  conn.Service
	lazy bool // svc attaches when the peer first speaks (conn.LazyService)
	log  zerolog.Logger
	pol  policy

	// oneShot: serve the first connection only, stop when it has closed.
	oneShot  bool
	accepted atomic.Bool

	mu       sync.Mutex
	started  bool
	closing  bool
	eng      reactor.Engine
	tlsEng   reactor.Engine
	ln       reactor.Listener
	addr     net.Addr
	sessions map[*session]struct{}
	nconns   atomic.Int64
	ended    counter // sessions until their conn.Conn is done
	tasks    counter // requests running on the policy
	done     chan struct{}
	doneOnce sync.Once
	stopIdle chan struct{}
	idleDone chan struct{}
	// selfStop is closed when a one-shot server's connection has ended.
	selfStop     chan struct{}
	selfStopOnce sync.Once
	// assign is the id of the connection being adopted (process-pool
	// workers serve connections numbered by their master); 0 numbers it
	// from connIDs.
	assign atomic.Uint64
	// onEnded, if set, learns of every connection that has ended.
	onEnded func(id uint64)
}

func newReactorServer(kind string, svc conn.Service, pol policy, opts []Option) *reactorServer {
	cfg := buildConfig(opts)
	return &reactorServer{
		kind:     kind,
		cfg:      cfg,
		svc:      svc,
		lazy:     isLazy(svc),
		log:      cfg.log,
		pol:      pol,
		sessions: make(map[*session]struct{}),
		done:     make(chan struct{}),
		stopIdle: make(chan struct{}),
		idleDone: make(chan struct{}),
		selfStop: make(chan struct{}),
	}
}

// isLazy reports whether svc attaches when the peer first speaks.
func isLazy(svc conn.Service) bool {
	l, ok := svc.(conn.LazyService)
	return ok && l.AttachLazily()
}

// NewThreaded returns a server that runs every request on a goroutine of
// its own (RPyC's ThreadedServer, without a thread parked per idle
// connection).
func NewThreaded(svc conn.Service, opts ...Option) Server {
	return newReactorServer("threaded", svc, newThreadedPolicy(), opts)
}

// NewThreadPool returns a server that runs requests on a fixed pool of
// workers (WithWorkers, DefaultWorkers by default) fed by a bounded queue
// (WithQueue). The engine's loop never waits for the pool. A request of a
// connection that already has requests running (such as a callback nested
// in one of them) runs on an overflow goroutine when no worker is free, so
// nested calls never deadlock however deep they go. When the queue is full,
// stdnet connections stop reading until it has room; on gnet and netpoll,
// which cannot pause a connection's reads, requests wait in the queue past
// its bound and the server logs that it is saturated.
func NewThreadPool(svc conn.Service, opts ...Option) Server {
	cfg := buildConfig(opts)
	return newReactorServer("threadpool", svc, newPoolPolicy(cfg.workers, cfg.queue, cfg.log), opts)
}

// NewOneShot returns a server that serves its first connection (requests
// on goroutines of their own), refuses others, and stops when that
// connection has closed: Serve returns then.
func NewOneShot(svc conn.Service, opts ...Option) Server {
	s := newReactorServer("oneshot", svc, newThreadedPolicy(), opts)
	s.oneShot = true
	return s
}

// Addr implements Server.
func (s *reactorServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Done implements Server.
func (s *reactorServer) Done() <-chan struct{} { return s.done }

// Start implements Server.
func (s *reactorServer) Start() error {
	if err := s.start(); err != nil {
		return err
	}
	startRegistrar(s.cfg, s.log)
	return nil
}

func (s *reactorServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	if s.started {
		return ErrStarted
	}
	eng, err := reactor.New(s.cfg.engine, s.cfg.reactorConfig())
	if err != nil {
		return err
	}
	network, addr := s.cfg.listenAddr()
	h := &bridge{s: s}
	var ln reactor.Listener
	if s.cfg.tls() {
		ln, err = s.listenTLS(network, addr, h)
	} else {
		ln, err = eng.Listen(network, addr, h)
	}
	if err != nil {
		_ = eng.Close()
		if s.tlsEng != nil {
			_ = s.tlsEng.Close()
			s.tlsEng = nil
		}
		return fmt.Errorf("servers: listen %s %s: %w", network, addr, err)
	}
	s.eng, s.ln, s.addr, s.started = eng, ln, ln.Addr(), true
	s.log.Info().Str("mode", s.kind).Str("engine", s.engineName()).
		Msgf("server started on %s", describeAddr(s.addr))
	if s.cfg.idleTimeout > 0 {
		go s.idleSweeper()
	} else {
		close(s.idleDone)
	}
	return nil
}

func (s *reactorServer) engineName() string {
	if s.tlsEng != nil {
		return s.tlsEng.Name()
	}
	return s.cfg.engine
}

// listenTLS serves a crypto/tls listener on a stdnet engine.
func (s *reactorServer) listenTLS(network, addr string, h reactor.Handler) (reactor.Listener, error) {
	tcfg, err := loadTLS(s.cfg.certFile, s.cfg.keyFile, s.cfg.caFile)
	if err != nil {
		return nil, err
	}
	lc := s.cfg.listenConfig()
	raw, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	eng, err := reactor.New(reactor.EngineStdnet, s.cfg.reactorConfig())
	if err != nil {
		raw.Close()
		return nil, err
	}
	if s.cfg.engine != reactor.EngineStdnet {
		s.log.Info().Str("engine", s.cfg.engine).
			Msg("TLS: connections are served by the stdnet engine (the chosen engine cannot do TLS)")
	}
	s.tlsEng = eng
	return eng.Serve(recordListener{tls.NewListener(raw, tcfg)}, h)
}

// Serve implements Server.
func (s *reactorServer) Serve(ctx context.Context) error {
	if err := s.Start(); err != nil && !errors.Is(err, ErrStarted) {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.selfStop:
	case <-s.done:
	}
	cctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownGrace)
	defer cancel()
	return s.Close(cctx)
}

// Close implements Server.
func (s *reactorServer) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	started := s.started
	s.mu.Unlock()
	if !started {
		s.finish()
		return nil
	}
	// Stop accepting.
	if s.ln != nil {
		_ = s.ln.Close()
	}
	close(s.stopIdle)
	<-s.idleDone

	// Let in-flight calls finish within ctx.
	var cut error
	if !s.tasks.wait(ctx) {
		cut = ctx.Err()
		s.log.Warn().Msg("shutdown deadline passed: closing connections with calls in flight")
	}
	// Close the connections (they send CLOSE) and the engines.
	s.mu.Lock()
	ss := make([]*session, 0, len(s.sessions))
	for ss1 := range s.sessions {
		ss = append(ss, ss1)
	}
	s.mu.Unlock()
	for _, se := range ss {
		se.close()
	}
	_ = s.eng.Close()
	if s.tlsEng != nil {
		_ = s.tlsEng.Close()
	}
	// Everything started has ended: connections (Detach), requests, workers.
	s.ended.wait(context.Background())
	s.tasks.wait(context.Background())
	s.pol.close()
	if s.cfg.socketPath != "" {
		_ = os.Remove(s.cfg.socketPath)
	}
	if r := s.cfg.registrar; r != nil {
		if err := r.Close(); err != nil {
			s.log.Warn().Err(err).Msg("unregistration failed")
		}
	}
	if s.kind == kindWorker {
		s.log.Debug().Msg("worker has terminated")
	} else {
		s.log.Info().Msg("server has terminated")
	}
	s.finish()
	return cut
}

func (s *reactorServer) finish() { s.doneOnce.Do(func() { close(s.done) }) }

// idleSweeper closes connections idle for longer than the idle timeout.
func (s *reactorServer) idleSweeper() {
	defer close(s.idleDone)
	d := s.cfg.idleTimeout
	t := time.NewTicker(max(d/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stopIdle:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		s.mu.Lock()
		var idle []*session
		for se := range s.sessions {
			if se.running.Load() == 0 && now-se.lastActive.Load() > int64(d) {
				idle = append(idle, se)
			}
		}
		s.mu.Unlock()
		for _, se := range idle {
			s.log.Info().Str("remote", se.remote()).Msg("idle timeout: closing connection")
			se.close()
		}
	}
}

// describeAddr formats an address as rpyc logs it: [host]:port or the
// socket path.
func describeAddr(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return "[" + a.IP.String() + "]:" + strconv.Itoa(a.Port)
	case nil:
		return "?"
	}
	return a.String()
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// startRegistrar starts the registrar, if any, once the server listens
// (outside the server's lock: it may ask for Addr).
func startRegistrar(cfg config, log zerolog.Logger) {
	if r := cfg.registrar; r != nil {
		if err := r.Start(); err != nil {
			log.Warn().Err(err).Msg("registration failed")
		}
	}
}
