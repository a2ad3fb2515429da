package reactor

import (
	"errors"
	"net"
	"runtime"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of Config's zero fields.
const (
	DefaultMaxQueued      = 4 << 20
	DefaultReadBufferSize = 64 << 10
	// DefaultGnetReadBufferSize is the default read buffer of a gnet loop:
	// there is one per loop, not per connection, and a frame of 64 KiB and
	// a little more (an RPyC message carrying 64 KiB of data) then arrives
	// in one read, which hands it to the handler whole instead of in two
	// parts that the handler's frame decoder must join (a copy, a second
	// read and a second wake-up per frame).
	DefaultGnetReadBufferSize = 256 << 10
	DefaultCloseTimeout       = time.Second
)

// Config tunes an engine. Zero fields take the defaults given here.
type Config struct {
	// Loops is the number of event loops: gnet loops per Listen and for
	// the client engine (Dial, Serve, ServeConn). 0 means GOMAXPROCS.
	// netpoll's pollers are process-wide: Loops > 0 sets their number once
	// (see New); 0 keeps netpoll's default (GOMAXPROCS/20+1). stdnet
	// ignores it.
	Loops int
	// MaxQueued bounds a connection's queued outgoing bytes; Write returns
	// ErrQueueFull past it. Default 4 MiB.
	MaxQueued int
	// ReadBufferSize is the read buffer of a gnet loop and of a stdnet
	// connection. 0 means the engine's default: DefaultGnetReadBufferSize
	// (256 KiB) for a gnet loop, DefaultReadBufferSize (64 KiB) for a
	// stdnet connection. netpoll sizes its buffers itself.
	ReadBufferSize int
	// ReuseAddr and ReusePort set SO_REUSEADDR and SO_REUSEPORT on
	// listening sockets. (Go's own listeners, used by stdnet and netpoll,
	// always set SO_REUSEADDR on TCP.) gnet with ReusePort runs one
	// listening socket per loop and needs an explicit port.
	ReuseAddr, ReusePort bool
	// Backlog is the listen backlog; 0 keeps the system's
	// (net.core.somaxconn).
	Backlog int
	// TCPNoDelay sets TCP_NODELAY (Nagle's algorithm off). It is the
	// default: TCP_NODELAY is set unless Nagle is true, so a zero Config
	// gets it too.
	TCPNoDelay bool
	// Nagle leaves Nagle's algorithm on (TCP_NODELAY off). It contradicts
	// TCPNoDelay.
	Nagle bool
	// KeepAlive is the TCP keep-alive period; 0 turns keep-alive off.
	KeepAlive time.Duration
	// CloseTimeout bounds how long a stdnet connection being closed waits
	// for its queued bytes to reach a slow peer. gnet and netpoll send at
	// close what the socket takes at once. Default 1s.
	CloseTimeout time.Duration
	// Logger receives the engine's diagnostics (and gnet's and netpoll's,
	// whose loggers are process-wide). The zero Logger discards them.
	Logger zerolog.Logger
}

// DefaultConfig returns a Config with every default spelt out, except
// ReadBufferSize, whose default depends on the engine (0).
func DefaultConfig() Config {
	cfg, _ := Config{TCPNoDelay: true}.withDefaults()
	return cfg
}

func (c Config) withDefaults() (Config, error) {
	if c.TCPNoDelay && c.Nagle {
		return c, errors.New("reactor: Config.TCPNoDelay and Config.Nagle contradict each other")
	}
	if c.Loops < 0 || c.MaxQueued < 0 || c.ReadBufferSize < 0 || c.Backlog < 0 || c.KeepAlive < 0 || c.CloseTimeout < 0 {
		return c, errors.New("reactor: negative Config field")
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	c.TCPNoDelay = !c.Nagle
	return c, nil
}

// keepAliveConfig is KeepAlive for the standard library's listeners and
// dialers: idle time and probe interval both KeepAlive, as setConnOptions
// and the gnet engine set them (the standard library's KeepAlive alone sets
// the idle time only, and probes every 15 s).
func (c *Config) keepAliveConfig() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: c.KeepAlive > 0, Idle: c.KeepAlive, Interval: c.KeepAlive}
}

// readBufferSize resolves ReadBufferSize for an engine.
func (c *Config) readBufferSize(engine string) int {
	switch {
	case c.ReadBufferSize > 0:
		return c.ReadBufferSize
	case engine == EngineGnet:
		return DefaultGnetReadBufferSize
	}
	return DefaultReadBufferSize
}

// loops resolves Loops for the engines that run their own loops.
func (c *Config) loops() int {
	if c.Loops > 0 {
		return c.Loops
	}
	return runtime.GOMAXPROCS(0)
}
