package servers

import (
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/reactor"
)

// Defaults of the options.
const (
	// DefaultHost is the address servers bind when WithHost is not given.
	DefaultHost = "127.0.0.1"
	// DefaultPort is RPyC's classic port, the one cmd/rpyc-server uses; the
	// library binds an ephemeral port (0) unless WithPort is given.
	DefaultPort = 18861
	// DefaultWorkers is the thread-pool size, RPyC's ThreadPoolServer
	// nbThreads.
	DefaultWorkers = 20
	// DefaultQueuePerWorker sizes the thread pool's bounded queue
	// (workers × this many requests).
	DefaultQueuePerWorker = 16
	// DefaultWriteTimeout bounds how long a reply waits for room in the
	// send queue of a peer that does not read before its connection is
	// closed. While a reply waits, conn holds the connection's write lock,
	// so an inline reply of the same connection (PING, DEL) waits too, on
	// the engine's loop: the bound is also the longest such a peer can
	// stall the loop.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultKeepAlive is the TCP keep-alive period of served connections
	// (TCP_KEEPIDLE and TCP_KEEPINTVL), the standard library's default: a
	// peer whose host vanished (a half-open connection) is dropped by the
	// kernel after the idle period and a few unanswered probes.
	DefaultKeepAlive = 15 * time.Second
)

// Registrar announces a server to a registry. Start runs once the server
// listens; Close runs when the server closes (it unregisters).
type Registrar interface {
	Start() error
	Close() error
}

// Option configures a server.
type Option func(*config)

// config is the plain settings struct behind the options.
type config struct {
	host         string
	port         int
	ipv6         bool
	socketPath   string
	backlog      int
	reuseAddr    bool
	certFile     string
	keyFile      string
	caFile       string
	engine       string
	workers      int
	queue        int
	protocol     []conn.Option
	log          zerolog.Logger
	maxConns     int
	idleTimeout  time.Duration
	registrar    Registrar
	writeTimeout time.Duration
	perConnProc  bool
	serviceName  string
	loops        int
	maxQueued    int
	keepAlive    time.Duration
}

func buildConfig(opts []Option) config {
	cfg := config{
		host:         DefaultHost,
		engine:       reactor.EngineGnet,
		log:          zerolog.Nop(),
		writeTimeout: DefaultWriteTimeout,
		keepAlive:    DefaultKeepAlive,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithHost sets the address to bind (127.0.0.1 by default; "::1" or "::"
// with WithIPv6).
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// WithPort sets the TCP port; 0 (the default of the library) binds a free
// port, which Addr reports.
func WithPort(port int) Option { return func(c *config) { c.port = port } }

// WithIPv6 binds an IPv6 socket ("tcp6"); with the default host it binds
// ::1.
func WithIPv6(on bool) Option { return func(c *config) { c.ipv6 = on } }

// WithSocketPath serves a unix socket at path instead of TCP. The path must
// not exist; it is removed when the server closes.
func WithSocketPath(path string) Option { return func(c *config) { c.socketPath = path } }

// WithBacklog sets the listen backlog (0: the system's).
func WithBacklog(n int) Option { return func(c *config) { c.backlog = n } }

// WithReuseAddr sets SO_REUSEADDR on the listening socket.
func WithReuseAddr(on bool) Option { return func(c *config) { c.reuseAddr = on } }

// WithTLS serves TLS (crypto/tls) with the certificate and key in PEM
// files. A non-empty caFile turns on client-certificate verification
// against the CAs it holds. TLS connections are driven by the stdnet
// engine whatever engine is chosen (gnet and netpoll cannot do TLS); the
// server logs so once.
func WithTLS(certFile, keyFile, caFile string) Option {
	return func(c *config) { c.certFile, c.keyFile, c.caFile = certFile, keyFile, caFile }
}

// WithEngine chooses the reactor engine: "gnet" (default), "netpoll" or
// "stdnet".
func WithEngine(name string) Option { return func(c *config) { c.engine = name } }

// WithWorkers sets the number of workers: goroutines of a thread pool
// (DefaultWorkers), processes of a process pool (the number of CPUs).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithQueue sets the thread pool's bounded queue of waiting requests
// (workers × DefaultQueuePerWorker by default).
func WithQueue(n int) Option { return func(c *config) { c.queue = n } }

// WithProtocol adds options of every served connection (conn.Option:
// timeouts, access policy, format...). The server sets the executor, the
// connection id and the logger itself.
func WithProtocol(opts ...conn.Option) Option {
	return func(c *config) { c.protocol = append(c.protocol, opts...) }
}

// WithLogger sets the logger. Servers log rpyc's lines: "server started
// on", "accepted", "welcome", "goodbye". The default discards them.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.log = l } }

// WithMaxConns refuses (closes at once) connections past n open ones; 0
// means no limit.
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = n } }

// WithIdleTimeout closes connections that have received no whole frame and
// run no request for d; 0 (the default) keeps them. Only whole frames count:
// a peer that sends a frame a byte at a time (a slowloris) is idle until the
// frame is complete, so it cannot hold a connection by dripping bytes.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithRegistrar sets the hook that registers the server: its Start runs
// once the server listens, its Close when the server closes.
func WithRegistrar(r Registrar) Option { return func(c *config) { c.registrar = r } }

// WithWriteTimeout bounds how long a request's reply waits for room in a
// connection's send queue (a peer that does not read) before the
// connection is closed. Default DefaultWriteTimeout.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithProcessPerConnection makes a process pool start a fresh worker
// process for every connection, which exits when it closes: the isolation
// of RPyC's ForkingServer.
func WithProcessPerConnection(on bool) Option { return func(c *config) { c.perConnProc = on } }

// WithServiceName names the service for process-pool workers, which find
// it with the lookup given to RunWorkerIfChild. By default the service's
// Name() is used.
func WithServiceName(name string) Option { return func(c *config) { c.serviceName = name } }

// WithLoops sets the engine's event loops (reactor.Config.Loops).
func WithLoops(n int) Option { return func(c *config) { c.loops = n } }

// WithMaxQueued bounds each connection's queued outgoing bytes
// (reactor.Config.MaxQueued).
func WithMaxQueued(n int) Option { return func(c *config) { c.maxQueued = n } }

// WithKeepAlive sets the TCP keep-alive period of served connections
// (DefaultKeepAlive); 0 turns keep-alive off. Every engine and policy
// applies it to the sockets it accepts (TCP_KEEPIDLE and TCP_KEEPINTVL).
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) { c.keepAlive = max(d, 0) }
}

func (c *config) reactorConfig() reactor.Config {
	return reactor.Config{
		Loops:     c.loops,
		MaxQueued: c.maxQueued,
		ReuseAddr: c.reuseAddr,
		Backlog:   c.backlog,
		KeepAlive: c.keepAlive,
		Logger:    c.log,
	}
}

// listenConfig is a standard library listener configuration whose
// accepted connections get the keep-alive of the reactor's engines: idle
// time and probe interval both the period (the standard library's
// KeepAlive alone would probe every 15 s whatever the period).
func (c *config) listenConfig() net.ListenConfig {
	if c.keepAlive <= 0 {
		return net.ListenConfig{KeepAlive: -1}
	}
	return net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: c.keepAlive, Interval: c.keepAlive}}
}

// listenAddr returns the network and address to listen on.
func (c *config) listenAddr() (network, addr string) {
	if c.socketPath != "" {
		return "unix", c.socketPath
	}
	host := c.host
	network = "tcp"
	if c.ipv6 {
		network = "tcp6"
		if host == DefaultHost || host == "" {
			host = "::1"
		}
	}
	return network, joinHostPort(host, c.port)
}

func (c *config) tls() bool { return c.certFile != "" || c.keyFile != "" }
