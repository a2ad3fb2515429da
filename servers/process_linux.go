package servers

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/reactor"
)

// Environment of a worker process: the marker that makes RunWorkerIfChild
// serve, and the settings the master passes down.
const (
	envWorker    = "RPYCGO_SERVERS_WORKER"
	envService   = "RPYCGO_SERVERS_SERVICE"
	envEngine    = "RPYCGO_SERVERS_ENGINE"
	envLogLevel  = "RPYCGO_SERVERS_LOG_LEVEL"
	envOneConn   = "RPYCGO_SERVERS_ONE_CONN"
	envTLSCert   = "RPYCGO_SERVERS_TLS_CERT"
	envTLSKey    = "RPYCGO_SERVERS_TLS_KEY"
	envTLSCA     = "RPYCGO_SERVERS_TLS_CA"
	envWriteTime = "RPYCGO_SERVERS_WRITE_TIMEOUT"
	envIdle      = "RPYCGO_SERVERS_IDLE_TIMEOUT"
	envKeepAlive = "RPYCGO_SERVERS_KEEPALIVE"
	envProtocol  = "RPYCGO_SERVERS_PROTOCOL"
)

// workerFD is the descriptor of the worker's end of its socketpair (the
// first of exec.Cmd.ExtraFiles).
const workerFD = 3

// processServer is the master of a process pool: it accepts and hands each
// connection's descriptor to a worker process.
type processServer struct {
	cfg     config
	svcName string
	log     zerolog.Logger
	exe     string

	mu       sync.Mutex
	started  bool
	closing  bool
	ln       net.Listener
	workers  []*worker
	rr       int
	nextID   atomic.Uint64
	reapers  counter // one per live worker process
	acceptWG sync.WaitGroup
	done     chan struct{}
	doneOnce sync.Once
}

// worker is one worker process seen from the master.
type worker struct {
	cmd  *exec.Cmd
	uc   *net.UnixConn // the master's end of the socketpair
	pid  int
	load atomic.Int32 // connections handed over and not yet ended
	dead atomic.Bool
}

// NewProcessPool returns a server whose connections are served by worker
// processes: the master accepts, and hands each connection's socket
// (SCM_RIGHTS over a socketpair) and its connection id to the least loaded
// of WithWorkers processes (the number of CPUs by default), re-executed
// from this binary (os.Executable), which must call RunWorkerIfChild first
// thing. Workers serve their connections with the chosen engine (stdnet for
// TLS) and a goroutine per request. A worker that dies loses only its own
// connections and is replaced. WithProcessPerConnection starts a worker per
// connection instead (RPyC's ForkingServer isolation). The service reaches
// the workers by name (WithServiceName, or the service's Name method).
// Protocol options (WithProtocol) are not passed to the workers.
func NewProcessPool(svc conn.Service, opts ...Option) Server {
	cfg := buildConfig(opts)
	name := cfg.serviceName
	if name == "" {
		if n, ok := svc.(interface{ Name() string }); ok {
			name = n.Name()
		}
	}
	return &processServer{cfg: cfg, svcName: name, log: cfg.log, done: make(chan struct{})}
}

// Addr implements Server.
func (s *processServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Done implements Server.
func (s *processServer) Done() <-chan struct{} { return s.done }

// Start implements Server.
func (s *processServer) Start() error {
	if err := s.start(); err != nil {
		return err
	}
	startRegistrar(s.cfg, s.log)
	return nil
}

func (s *processServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	if s.started {
		return ErrStarted
	}
	if s.svcName == "" {
		return errors.New("servers: a process pool needs the service's name (WithServiceName)")
	}
	if s.cfg.tls() {
		if _, err := loadTLS(s.cfg.certFile, s.cfg.keyFile, s.cfg.caFile); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("servers: process pool: %w", err)
	}
	s.exe = exe
	network, addr := s.cfg.listenAddr()
	ln, err := listenStd(network, addr, s.cfg.listenConfig())
	if err != nil {
		return fmt.Errorf("servers: listen %s %s: %w", network, addr, err)
	}
	s.ln = ln
	if !s.cfg.perConnProc {
		n := s.cfg.workers
		if n <= 0 {
			n = runtime.NumCPU()
		}
		for range n {
			w, err := s.spawnLocked()
			if err != nil {
				s.stopWorkersLocked()
				ln.Close()
				return err
			}
			s.workers = append(s.workers, w)
		}
	}
	s.started = true
	if s.cfg.tls() && s.cfg.engine != reactor.EngineStdnet {
		s.log.Info().Str("engine", s.cfg.engine).
			Msg("TLS: workers serve connections with the stdnet engine (the chosen engine cannot do TLS)")
	}
	s.log.Info().Str("mode", "process").Str("engine", s.cfg.engine).Int("workers", len(s.workers)).
		Msgf("server started on %s", describeAddr(ln.Addr()))
	s.acceptWG.Add(1)
	go s.acceptLoop()
	return nil
}

// listenStd binds a standard library listener configured by lc.
func listenStd(network, addr string, lc net.ListenConfig) (net.Listener, error) {
	return lc.Listen(context.Background(), network, addr)
}

// spawnLocked starts a worker process.
func (s *processServer) spawnLocked() (*worker, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("servers: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "worker-socket")
	theirs := os.NewFile(uintptr(fds[1]), "master-socket")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("servers: socketpair: %w", err)
	}
	uc := fc.(*net.UnixConn)
	cmd := exec.Command(s.exe)
	cmd.Env = append(os.Environ(),
		envWorker+"=1",
		envService+"="+s.svcName,
		envEngine+"="+s.cfg.engine,
		envLogLevel+"="+strconv.Itoa(int(s.log.GetLevel())),
		envWriteTime+"="+s.cfg.writeTimeout.String(),
		envKeepAlive+"="+s.cfg.keepAlive.String(),
	)
	if s.cfg.perConnProc {
		cmd.Env = append(cmd.Env, envOneConn+"=1")
	}
	if s.cfg.idleTimeout > 0 {
		cmd.Env = append(cmd.Env, envIdle+"="+s.cfg.idleTimeout.String())
	}
	if p, err := encodeProtocol(s.cfg.protocol); err == nil {
		cmd.Env = append(cmd.Env, envProtocol+"="+p)
	} else {
		s.log.Warn().Err(err).Msg("protocol settings not passed to workers")
	}
	if s.cfg.tls() {
		cmd.Env = append(cmd.Env, envTLSCert+"="+s.cfg.certFile, envTLSKey+"="+s.cfg.keyFile, envTLSCA+"="+s.cfg.caFile)
	}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		uc.Close()
		return nil, fmt.Errorf("servers: start worker: %w", err)
	}
	w := &worker{cmd: cmd, uc: uc, pid: cmd.Process.Pid}
	s.reapers.add()
	go s.watch(w)
	s.log.Debug().Int("pid", w.pid).Msg("worker started")
	return w, nil
}

// watch reads a worker's reports (the ids of connections that ended) until
// its socket closes, then reaps it and, unless the server is closing or
// workers are per connection, replaces it.
func (s *processServer) watch(w *worker) {
	defer s.reapers.done()
	buf := make([]byte, 64)
	for {
		n, err := w.uc.Read(buf)
		if err != nil || n == 0 {
			break
		}
		if n >= 8 {
			w.load.Add(-1)
		}
	}
	w.dead.Store(true)
	w.uc.Close()
	err := w.cmd.Wait()
	s.mu.Lock()
	closing := s.closing
	for i, x := range s.workers {
		if x == w {
			s.workers = append(s.workers[:i], s.workers[i+1:]...)
			break
		}
	}
	var repl *worker
	if !closing && !s.cfg.perConnProc {
		s.log.Warn().Int("pid", w.pid).Err(err).Int32("connections_lost", max(w.load.Load(), 0)).
			Msg("worker process ended: starting another")
		var serr error
		if repl, serr = s.spawnLocked(); serr != nil {
			s.log.Error().Err(serr).Msg("cannot replace worker")
		} else {
			s.workers = append(s.workers, repl)
		}
	} else {
		s.log.Debug().Int("pid", w.pid).Err(err).Msg("worker process ended")
	}
	s.mu.Unlock()
}

func (s *processServer) acceptLoop() {
	defer s.acceptWG.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn().Err(err).Msg("accept")
			time.Sleep(delay)
			continue
		}
		delay = 0
		if s.cfg.maxConns > 0 && s.liveConns() >= s.cfg.maxConns {
			s.log.Warn().Str("remote", addrString(nc.RemoteAddr())).Int("max_conns", s.cfg.maxConns).Msg("refused: too many connections")
			nc.Close()
			continue
		}
		s.hand(nc)
	}
}

// liveConns counts the connections handed to workers and not yet ended.
func (s *processServer) liveConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.workers {
		n += int(max(w.load.Load(), 0))
	}
	return n
}

// hand passes nc to a worker and closes the master's copies of it.
func (s *processServer) hand(nc net.Conn) {
	defer nc.Close()
	remote := addrString(nc.RemoteAddr())
	id := s.nextID.Add(1)
	f, err := nc.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		s.log.Warn().Err(err).Str("remote", remote).Msg("connection not served")
		return
	}
	defer f.Close()
	msg := binary.BigEndian.AppendUint64(nil, id)
	oob := syscall.UnixRights(int(f.Fd()))
	for range 3 {
		w, err := s.pick()
		if err != nil {
			s.log.Warn().Err(err).Str("remote", remote).Msg("connection not served")
			return
		}
		w.load.Add(1)
		if _, _, err := w.uc.WriteMsgUnix(msg, oob, nil); err != nil {
			w.load.Add(-1)
			s.log.Warn().Err(err).Int("pid", w.pid).Msg("cannot hand a connection to a worker")
			continue
		}
		s.log.Info().Int("worker", w.pid).Uint64("conn", id).Msgf("accepted %s", remote)
		return
	}
}

// pick returns the least loaded live worker (round robin among equals), or
// a new one per connection.
func (s *processServer) pick() (*worker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ErrServerClosed
	}
	if s.cfg.perConnProc {
		return s.spawnLocked()
	}
	var best *worker
	n := len(s.workers)
	for i := range n {
		w := s.workers[(s.rr+i)%n]
		if w.dead.Load() {
			continue
		}
		if best == nil || w.load.Load() < best.load.Load() {
			best = w
		}
	}
	s.rr++
	if best == nil {
		return nil, errors.New("servers: no live worker")
	}
	return best, nil
}

// Serve implements Server.
func (s *processServer) Serve(ctx context.Context) error {
	if err := s.Start(); err != nil && !errors.Is(err, ErrStarted) {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	cctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownGrace)
	defer cancel()
	return s.Close(cctx)
}

// Close implements Server: it stops accepting, tells every worker to stop
// (closing its socketpair), lets them finish their calls until ctx ends,
// kills those still running then, and reaps them all.
func (s *processServer) Close(ctx context.Context) error {
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
		s.doneOnce.Do(func() { close(s.done) })
		return nil
	}
	_ = s.ln.Close()
	s.acceptWG.Wait()
	s.mu.Lock()
	s.stopWorkersLocked()
	ws := append([]*worker(nil), s.workers...)
	s.mu.Unlock()
	var cut error
	if !s.reapers.wait(ctx) {
		cut = ctx.Err()
		s.log.Warn().Msg("shutdown deadline passed: killing workers")
		s.mu.Lock()
		ws = append(ws[:0], s.workers...)
		s.mu.Unlock()
		for _, w := range ws {
			_ = w.cmd.Process.Kill()
		}
		s.reapers.wait(context.Background())
	}
	if s.cfg.socketPath != "" {
		_ = os.Remove(s.cfg.socketPath)
	}
	if r := s.cfg.registrar; r != nil {
		if err := r.Close(); err != nil {
			s.log.Warn().Err(err).Msg("unregistration failed")
		}
	}
	s.log.Info().Msg("server has terminated")
	s.doneOnce.Do(func() { close(s.done) })
	return cut
}

// stopWorkersLocked asks every worker to finish: they see their socket's
// end of stream.
func (s *processServer) stopWorkersLocked() {
	for _, w := range s.workers {
		_ = w.uc.CloseWrite()
	}
}

// WorkerPIDs returns the process ids of a process pool's live workers (nil
// for other servers).
func WorkerPIDs(srv Server) []int {
	s, ok := srv.(*processServer)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var pids []int
	for _, w := range s.workers {
		if !w.dead.Load() {
			pids = append(pids, w.pid)
		}
	}
	return pids
}

// RunWorkerIfChild returns at once in a process that is not a worker of a
// process pool. In a worker (started by NewProcessPool from this binary) it
// serves the connections its master hands over, with the service lookup
// finds by name, and exits the process when the master closes. Call it
// first thing in main, and in TestMain of tests that start process pools.
func RunWorkerIfChild(lookup func(name string) (conn.Service, error)) {
	if os.Getenv(envWorker) != "1" {
		return
	}
	for _, k := range []string{envWorker, envService, envEngine, envLogLevel, envOneConn, envTLSCert, envTLSKey, envTLSCA, envWriteTime, envIdle, envProtocol} {
		defer os.Unsetenv(k) // none reaches the worker's own children
	}
	os.Exit(runWorker(lookup))
}

func runWorker(lookup func(name string) (conn.Service, error)) int {
	level, _ := strconv.Atoi(os.Getenv(envLogLevel))
	st, _ := os.Stderr.Stat()
	color := st != nil && st.Mode()&os.ModeCharDevice != 0
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly, NoColor: !color}).
		Level(zerolog.Level(level)).With().Timestamp().Int("worker", os.Getpid()).Logger()
	if zerolog.Level(level) == zerolog.Disabled {
		log = zerolog.Nop()
	}
	name := os.Getenv(envService)
	svc, err := lookup(name)
	if err != nil || svc == nil {
		log.Error().Err(err).Str("service", name).Msg("worker: unknown service")
		return 2
	}
	f := os.NewFile(workerFD, "master-socket")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		log.Error().Err(err).Msg("worker: no master socket")
		return 2
	}
	master := fc.(*net.UnixConn)
	defer master.Close()

	opts := []Option{WithLogger(log), WithEngine(os.Getenv(envEngine))}
	if d, err := time.ParseDuration(os.Getenv(envWriteTime)); err == nil && d > 0 {
		opts = append(opts, WithWriteTimeout(d))
	}
	if d, err := time.ParseDuration(os.Getenv(envIdle)); err == nil && d > 0 {
		opts = append(opts, WithIdleTimeout(d))
	}
	if d, err := time.ParseDuration(os.Getenv(envKeepAlive)); err == nil {
		opts = append(opts, WithKeepAlive(d))
	}
	if p := os.Getenv(envProtocol); p != "" {
		o, err := decodeProtocol(p)
		if err != nil {
			log.Error().Err(err).Msg("worker: protocol settings")
			return 2
		}
		opts = append(opts, WithProtocol(o))
	}
	var tcfg *tls.Config
	if cert := os.Getenv(envTLSCert); cert != "" {
		if tcfg, err = loadTLS(cert, os.Getenv(envTLSKey), os.Getenv(envTLSCA)); err != nil {
			log.Error().Err(err).Msg("worker: TLS")
			return 2
		}
	}
	oneConn := os.Getenv(envOneConn) == "1"
	srv := newReactorServer(kindWorker, svc, newThreadedPolicy(), opts)
	srv.oneShot = oneConn
	var mmu sync.Mutex
	srv.onEnded = func(id uint64) {
		mmu.Lock()
		_, _ = master.Write(binary.BigEndian.AppendUint64(nil, id))
		mmu.Unlock()
	}
	if err := srv.startDetached(tcfg != nil); err != nil {
		log.Error().Err(err).Msg("worker: engine")
		return 2
	}
	log.Debug().Msg("worker ready")

	received := make(chan struct{})
	var adopted atomic.Bool
	go func() {
		defer close(received)
		buf := make([]byte, 64)
		oob := make([]byte, syscall.CmsgSpace(4*4))
		for {
			n, oobn, _, _, err := master.ReadMsgUnix(buf, oob)
			if err != nil || (n == 0 && oobn == 0) {
				return
			}
			fds := receivedFDs(oob[:oobn])
			if n < 8 || len(fds) == 0 {
				for _, fd := range fds {
					syscall.Close(fd)
				}
				continue
			}
			id := binary.BigEndian.Uint64(buf[:8])
			for _, fd := range fds[1:] {
				syscall.Close(fd)
			}
			srv.adopt(fds[0], id, tcfg)
			adopted.Store(true)
			if oneConn {
				return
			}
		}
	}()
	select {
	case <-received:
		if oneConn && adopted.Load() {
			select {
			case <-srv.selfStop:
			case <-srv.done:
			}
		}
	case <-srv.selfStop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownGrace)
	defer cancel()
	_ = srv.Close(ctx)
	return 0
}

func receivedFDs(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if got, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// startDetached starts the engine of a worker, which listens on nothing.
func (s *reactorServer) startDetached(tlsOnly bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.cfg.engine
	if tlsOnly {
		name = reactor.EngineStdnet
	}
	eng, err := reactor.New(name, s.cfg.reactorConfig())
	if err != nil {
		return err
	}
	s.eng, s.started = eng, true
	close(s.idleDone)
	return nil
}

// adopt serves a connection received from the master, numbered id: with
// the engine when it can drive a socket, else with stdnet.
func (s *reactorServer) adopt(fd int, id uint64, tcfg *tls.Config) {
	f := os.NewFile(uintptr(fd), "conn")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		s.log.Warn().Err(err).Msg("worker: received descriptor is not a socket")
		return
	}
	if tcfg != nil {
		nc = &recordConn{Conn: tls.Server(nc, tcfg)}
	}
	s.assign.Store(id)
	_, err = s.eng.ServeConn(nc, &bridge{s: s})
	if errors.Is(err, reactor.ErrUnsupported) {
		s.mu.Lock()
		if s.tlsEng == nil {
			s.tlsEng, _ = reactor.New(reactor.EngineStdnet, s.cfg.reactorConfig())
		}
		eng := s.tlsEng
		s.mu.Unlock()
		s.assign.Store(id)
		_, err = eng.ServeConn(nc, &bridge{s: s})
	}
	if err != nil {
		s.assign.Store(0)
		s.log.Warn().Err(err).Msg("worker: connection not served")
		_ = nc.Close()
		if s.onEnded != nil {
			s.onEnded(id)
		}
	}
}
