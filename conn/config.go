package conn

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
)

// Config holds a connection's settings. The zero value is not meant to be
// used directly: start from DefaultConfig and change what you need, or use
// the Option functions.
type Config struct {
	// AllowGetattr permits HANDLE_GETATTR and CALLATTR at all (RPyC's
	// allow_getattr). Which names are reachable is decided by the objects.
	AllowGetattr bool
	// AllowSetattr and AllowDelattr permit SETATTR and DELATTR at all
	// (off by default, as in RPyC).
	AllowSetattr bool
	AllowDelattr bool
	// SyncRequestTimeout bounds a synchronous request whose context has no
	// deadline (RPyC's sync_request_timeout, 30 s).
	SyncRequestTimeout time.Duration
	// IncludeTraceback sends the error text chain with exceptions
	// (include_local_traceback).
	IncludeTraceback bool
	// Format is the message layout spoken before the peer's first frame has
	// shown its version: FormatV5 by default. Once the peer speaks, its
	// layout is used.
	Format codec.Format
	// Limits bound incoming frames.
	Limits codec.FrameLimits
	// MaxDepth bounds the nesting of incoming values (0: codec default).
	MaxDepth int
	// MaxObjects bounds the local objects the peer may hold references to
	// on this connection; sending one more fails with MemoryError.
	MaxObjects int
	// MaxInFlight bounds the peer's requests being served at once on this
	// connection; one more is answered with a RuntimeError.
	MaxInFlight int
	// Compress compresses outgoing payloads above 3000 bytes (as Python does).
	Compress bool
	// Executor runs the peer's requests. Nil means a goroutine per request.
	Executor dispatch.Executor
	// Service is what a dialled connection exposes (Dial, NewNetConn with a
	// nil service argument use it); nil means the void service.
	Service Service
	// ConnID, when non-zero, is the connection's ID (a server that spreads
	// connections over processes numbers them itself); otherwise a
	// process-wide counter assigns it.
	ConnID uint64
	// Logger receives connection-level events; zerolog.Nop() by default.
	Logger zerolog.Logger
}

// DefaultConfig returns RPyC's defaults.
func DefaultConfig() Config {
	return Config{
		AllowGetattr:       true,
		SyncRequestTimeout: dispatch.DefaultTimeout,
		IncludeTraceback:   true,
		Format:             codec.FormatV5,
		Limits:             codec.DefaultFrameLimits(),
		Compress:           true,
		MaxObjects:         DefaultMaxObjects,
		MaxInFlight:        DefaultMaxInFlight,
		Logger:             zerolog.Nop(),
	}
}

// Default limits of a connection.
const (
	DefaultMaxObjects  = 1 << 20
	DefaultMaxInFlight = 4096
)

// WithMaxObjects sets Config.MaxObjects.
func WithMaxObjects(n int) Option { return func(c *Config) { c.MaxObjects = n } }

// WithCompress sets Config.Compress: false sends every payload as is.
func WithCompress(on bool) Option { return func(c *Config) { c.Compress = on } }

// WithMaxInFlight sets Config.MaxInFlight.
func WithMaxInFlight(n int) Option { return func(c *Config) { c.MaxInFlight = n } }

// Option changes a Config.
type Option func(*Config)

// WithTimeout sets the default timeout of synchronous requests.
func WithTimeout(d time.Duration) Option { return func(c *Config) { c.SyncRequestTimeout = d } }

// WithFormat sets the layout spoken before the peer has shown its own.
func WithFormat(f codec.Format) Option { return func(c *Config) { c.Format = f } }

// WithExecutor sets where the peer's requests run.
func WithExecutor(e dispatch.Executor) Option { return func(c *Config) { c.Executor = e } }

// WithLogger sets the logger.
func WithLogger(l zerolog.Logger) Option { return func(c *Config) { c.Logger = l } }

// WithSetattr permits SETATTR and DELATTR (off by default).
func WithSetattr(allow bool) Option {
	return func(c *Config) { c.AllowSetattr, c.AllowDelattr = allow, allow }
}

// WithLimits sets the frame limits.
func WithLimits(l codec.FrameLimits) Option { return func(c *Config) { c.Limits = l } }

// WithConnID sets the connection's ID (see Config.ConnID).
func WithConnID(id uint64) Option { return func(c *Config) { c.ConnID = id } }

// WithConfig replaces the whole configuration.
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

func buildConfig(opts []Option) Config {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.SyncRequestTimeout <= 0 {
		cfg.SyncRequestTimeout = dispatch.DefaultTimeout
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = DefaultMaxObjects
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Format == codec.FormatUnknown {
		cfg.Format = codec.FormatV5
	}
	return cfg
}
