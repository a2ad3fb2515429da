package registry

import (
	"time"

	"github.com/rs/zerolog"
)

// LeaveReason says why an endpoint left a name.
type LeaveReason int

const (
	// Unregistered: the server sent UNREGISTER.
	Unregistered LeaveReason = iota
	// Pruned: a QUERY found the registration older than the pruning timeout.
	Pruned
)

// String returns "unregistered" or "pruned".
func (r LeaveReason) String() string {
	if r == Pruned {
		return "pruned"
	}
	return "unregistered"
}

// JoinFunc is called when an endpoint appears under a name (a REGISTER that
// is not a refresh). It runs on the serving goroutine after the request was
// handled and must not block for long.
type JoinFunc func(name string, ep Endpoint)

// LeaveFunc is called when an endpoint disappears from a name (UNREGISTER or
// pruning). It runs like JoinFunc.
type LeaveFunc func(name string, ep Endpoint, reason LeaveReason)

// Option configures a server, a client or a Registrar; each ignores the
// options that are not its own (the doc of each option says who reads it).
type Option func(*config)

type config struct {
	host      string
	hostSet   bool
	port      int
	ipv6      bool
	broadcast *bool

	pruning time.Duration
	listing bool
	backend Backend
	onJoin  JoinFunc
	onLeave LeaveFunc

	timeout time.Duration

	interval time.Duration
	retry    time.Duration
	iface    string

	log zerolog.Logger
	now func() time.Time
}

func buildConfig(opts []Option) config {
	c := config{
		port:     DefaultPort,
		pruning:  DefaultPruningTimeout,
		timeout:  DefaultClientTimeout,
		interval: ReregisterInterval,
		retry:    time.Second,
		log:      zerolog.Nop(),
		now:      time.Now,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithHost sets the address a server binds (default "0.0.0.0", "::" with
// WithIPv6, as rpyc) or the registry a UDP client sends to (default
// "255.255.255.255"). Host names are resolved.
func WithHost(host string) Option { return func(c *config) { c.host, c.hostSet = host, true } }

// WithPort sets the registry port (default 18811; 0 lets a server choose).
func WithPort(port int) Option { return func(c *config) { c.port = port } }

// WithIPv6 makes a server bind "::" by default (dual stack, as rpyc_registry
// -6) and a UDP client use an IPv6 socket without broadcast.
func WithIPv6(on bool) Option { return func(c *config) { c.ipv6 = on } }

// WithBroadcast forces SO_BROADCAST on or off for a UDP client. By default
// it is on when a dotted part of the target IP is "255", as rpyc.
func WithBroadcast(on bool) Option { return func(c *config) { c.broadcast = &on } }

// WithPruningTimeout sets how long a server keeps a registration that is
// not refreshed (default 240 s).
func WithPruningTimeout(d time.Duration) Option { return func(c *config) { c.pruning = d } }

// WithListing lets a server answer LIST (off by default: it answers None).
func WithListing(on bool) Option { return func(c *config) { c.listing = on } }

// WithBackend sets a server's store (default: a new MemoryBackend). Several
// servers may share one Backend.
func WithBackend(b Backend) Option { return func(c *config) { c.backend = b } }

// WithOnJoin sets a server's join hook.
func WithOnJoin(f JoinFunc) Option { return func(c *config) { c.onJoin = f } }

// WithOnLeave sets a server's leave hook.
func WithOnLeave(f LeaveFunc) Option { return func(c *config) { c.onLeave = f } }

// WithTimeout sets how long a client waits for a reply (default 2 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithReregisterInterval sets how often a Registrar refreshes a successful
// registration (default 60 s).
func WithReregisterInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithRetryInterval sets how soon a Registrar retries a failed registration
// (default 1 s).
func WithRetryInterval(d time.Duration) Option { return func(c *config) { c.retry = d } }

// WithInterface sets the local address a Registrar registers from (rpyc
// passes the server's bind host); "" means any.
func WithInterface(iface string) Option { return func(c *config) { c.iface = iface } }

// WithLogger sets the logger (default: none). Servers log requests at debug
// level with rpyc's wording and ignored input at warn level.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.log = l } }

// withClock replaces time.Now (tests).
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
