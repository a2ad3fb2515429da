package registry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Registrar keeps a server registered, as rpyc's auto_register: Start
// registers the aliases and port at once, then again every 60 s
// (WithReregisterInterval) after a success, or about every second
// (WithRetryInterval) after a failure; Close stops and unregisters. It
// reads WithReregisterInterval, WithRetryInterval, WithInterface,
// WithTimeout (bounds the final UNREGISTER) and WithLogger.
type Registrar struct {
	client   Client
	aliases  []string
	port     int
	iface    string
	interval time.Duration
	retry    time.Duration
	timeout  time.Duration
	log      zerolog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
	last    time.Time
}

// NewRegistrar returns a Registrar for a server listening on port and
// exposing aliases.
func NewRegistrar(client Client, aliases []string, port int, opts ...Option) *Registrar {
	cfg := buildConfig(opts)
	return &Registrar{
		client:   client,
		aliases:  slices.Clone(aliases),
		port:     port,
		iface:    cfg.iface,
		interval: cfg.interval,
		retry:    cfg.retry,
		timeout:  cfg.timeout,
		log:      cfg.log,
	}
}

// Start begins registering on a goroutine of its own and returns at once.
func (r *Registrar) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.started {
		return errors.New("registry: registrar already started")
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	r.log.Info().Msgf("started background auto-register thread (interval = %s)", r.interval)
	go r.loop(ctx)
	return nil
}

// LastRegistered returns the time of the last acknowledged registration
// (zero if none yet).
func (r *Registrar) LastRegistered() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *Registrar) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := r.client.Register(ctx, r.aliases, r.port, r.iface)
		if ctx.Err() != nil {
			return
		}
		next := r.retry
		if ok {
			next = r.interval
			r.mu.Lock()
			r.last = time.Now()
			r.mu.Unlock()
		} else {
			ev := r.log.Info()
			if err != nil {
				ev = ev.Err(err)
			}
			ev.Msg("registering services did not work - retry")
		}
		t.Reset(next)
	}
}

// Close stops re-registering, waits for the goroutine to end and
// unregisters the port (also when no registration succeeded, as rpyc). It
// returns the UNREGISTER's error; later calls return nil.
func (r *Registrar) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	started, cancel, done := r.started, r.cancel, r.done
	r.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	<-done
	ctx, stop := context.WithTimeout(context.Background(), r.timeout)
	defer stop()
	return r.client.Unregister(ctx, r.port)
}
