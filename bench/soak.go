package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

// SoakKind names one part of the soak's mixed load.
type SoakKind string

// The soak's kinds of work. The steady connections are dealt out to the
// first six in turn; churn runs on connections of its own.
const (
	// SoakEcho is echo(i) of a small int, checked.
	SoakEcho SoakKind = "echo"
	// SoakEcho64K is echo(64 KiB of bytes), checked.
	SoakEcho64K SoakKind = "echo64k"
	// SoakCallback is call(func, i): the server calls the client's Go func
	// back before it answers.
	SoakCallback SoakKind = "callback"
	// SoakObjects makes Counter objects, calls incr on them, closes them
	// (HANDLE_DEL) and checks with live_objects() that the server holds no
	// more objects for the connection than before.
	SoakObjects SoakKind = "objects"
	// SoakAsync keeps a window of async echo calls in flight.
	SoakAsync SoakKind = "async"
	// SoakEvents subscribes a Go callback and has the server fire events
	// at it (asynchronous requests from the server), checked in order.
	SoakEvents SoakKind = "events"
	// SoakChurn is connect, one echo call, close, in a loop.
	SoakChurn SoakKind = "churn"
)

// SoakKinds lists the kinds in report order.
var SoakKinds = []SoakKind{SoakEcho, SoakEcho64K, SoakCallback, SoakObjects, SoakAsync, SoakEvents, SoakChurn}

// ParseSoakKind checks a kind's name.
func ParseSoakKind(s string) (SoakKind, error) {
	for _, k := range SoakKinds {
		if strings.EqualFold(s, string(k)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("bench: unknown soak kind %q (have %s)", s, strings.Join(kindNames(SoakKinds), ", "))
}

// split returns the kinds of the steady connections and whether churn runs.
func (c *SoakConfig) split() (steady []SoakKind, churn bool) {
	for _, k := range c.Kinds {
		if k == SoakChurn {
			churn = c.ChurnWorkers > 0
		} else if !slices.Contains(steady, k) {
			steady = append(steady, k)
		}
	}
	return steady, churn
}

// The soak's fixed shapes.
const (
	soakOpTimeout     = 30 * time.Second // every call, dial and wait
	soakDialTimeout   = 10 * time.Second
	soakStopTimeout   = 15 * time.Second // for the workers to end
	soakObjectsPerRun = 4                // Counters made per objects cycle
	soakFireN         = 16               // events per fire
	soakMaxErrors     = 100              // kept in the report
	soakMaxPrinted    = 20               // printed as they happen
	soakFDSettle      = 5 * time.Second  // for closed connections to leave the server
)

// SoakConfig is one soak run.
type SoakConfig struct {
	// Target is the server to start (an rpycgo target).
	Target Target `json:"target"`
	// Duration is the length of the load. Warmup (part of it; negative:
	// DefaultSoakWarmup) ends before the sample that RSS growth is measured
	// from. Interval is the time between samples (0: DefaultSoakInterval).
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Interval time.Duration `json:"interval_ns"`
	// Kinds is the load (nil: all of SoakKinds). The steady connections
	// are dealt out to its kinds other than churn in turn.
	Kinds []SoakKind `json:"kinds"`
	// Conns is the number of steady connections.
	Conns int `json:"conns"`
	// ChurnWorkers is the number of connect-call-close loops (each holds at
	// most one connection) when Kinds has churn.
	ChurnWorkers int `json:"churn_workers"`
	// Window is the number of async calls in flight per async connection.
	Window int `json:"window"`
	// Compress keeps RPyC's default compression of large payloads on (false:
	// off in the client and in rpyc-server).
	Compress bool `json:"compress"`
	// MaxRSSGrowth fails the run when the server's RSS at the end exceeds
	// its RSS after the warm-up by more than this fraction (0: report
	// only).
	MaxRSSGrowth float64 `json:"max_rss_growth"`
	// Live, when set, gets a line per sample and every error as it happens.
	Live io.Writer `json:"-"`
}

// Defaults of a soak run.
const (
	DefaultSoakInterval = 10 * time.Second
	DefaultSoakConns    = 64
	DefaultSoakChurn    = 4
	DefaultSoakWindow   = 16
	DefaultSoakGrowth   = 0.5
)

// DefaultSoakWarmup is the warm-up of a soak of duration d: a tenth of it,
// at least one interval and at most a minute.
func DefaultSoakWarmup(d, interval time.Duration) time.Duration {
	return min(max(d/10, interval), time.Minute)
}

// SoakSample is one sample of a soak run. Call counts are cumulative.
type SoakSample struct {
	Elapsed float64            `json:"elapsed_s"`
	Calls   map[SoakKind]int64 `json:"calls"`
	// Rate is calls/s of all kinds since the previous sample.
	Rate   float64 `json:"calls_per_s"`
	Errors int64   `json:"errors"`
	// Conns is the client connections open now (steady and churn).
	Conns int `json:"conns"`
	// Server figures: RSS (its process tree), kernel threads, open file
	// descriptors (of the server process), and the sum over the objects
	// connections of the last live_objects() they read.
	ServerRSS     int64 `json:"server_rss_bytes"`
	ServerThreads int   `json:"server_threads"`
	ServerFDs     int   `json:"server_fds"`
	ServerObjects int64 `json:"server_objects"`
	// Client figures: live heap, goroutines, and the objects of the client
	// the server holds references to (callbacks), summed over the steady
	// connections.
	ClientHeap       uint64 `json:"client_heap_bytes"`
	ClientGoroutines int    `json:"client_goroutines"`
	ClientHeld       int    `json:"client_held_objects"`
}

func (s *SoakSample) total() int64 {
	var n int64
	for _, v := range s.Calls {
		n += v
	}
	return n
}

// SoakError is one error of a soak run.
type SoakError struct {
	Elapsed float64  `json:"elapsed_s"`
	Kind    SoakKind `json:"kind"`
	Message string   `json:"message"`
}

// SoakReport is what a soak run measured.
type SoakReport struct {
	Started time.Time  `json:"started"`
	Seconds float64    `json:"seconds"`
	Machine Machine    `json:"machine"`
	Config  SoakConfig `json:"config"`
	// Samples is the time series.
	Samples []SoakSample `json:"samples"`
	// Calls and Errors are the totals; ErrorList keeps the first ones.
	Calls     map[SoakKind]int64 `json:"calls"`
	Errors    int64              `json:"errors"`
	ErrorList []SoakError        `json:"error_list,omitempty"`
	// Warm is the index in Samples of the first sample after the warm-up.
	Warm int `json:"warm_sample"`
	// RSSGrowth is the server's RSS at the end minus after the warm-up.
	RSSGrowth    int64   `json:"rss_growth_bytes"`
	RSSGrowthPct float64 `json:"rss_growth_pct"`
	// IdleFDs is the server's open fds before the first connection,
	// ClosedFDs after every connection was closed at the end.
	IdleFDs   int `json:"idle_fds"`
	ClosedFDs int `json:"closed_fds"`
	// IdleThreads and ClosedThreads are its kernel threads at the same
	// moments.
	IdleThreads   int `json:"idle_threads"`
	ClosedThreads int `json:"closed_threads"`
	// Notes are facts about the run; Failures are the checks that failed.
	Notes    []string `json:"notes,omitempty"`
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether the run had no errors and passed its drift checks.
func (r *SoakReport) OK() bool { return r.Errors == 0 && len(r.Failures) == 0 }

// soak is the shared state of one soak run.
type soak struct {
	cfg      SoakConfig
	addr     string
	start    time.Time
	stopping atomic.Bool
	calls    [7]atomic.Int64 // by index in SoakKinds
	errs     atomic.Int64
	open     atomic.Int64
	slots    []atomic.Pointer[conn.Conn] // the steady connections
	objs     []atomic.Int64              // last live_objects() per slot
	mu       sync.Mutex                  // errList and Live
	errList  []SoakError
}

func kindIndex(k SoakKind) int {
	for i, x := range SoakKinds {
		if x == k {
			return i
		}
	}
	panic("bench: unknown soak kind " + string(k))
}

func (s *soak) count(k SoakKind, n int64) { s.calls[kindIndex(k)].Add(n) }

// fail records an error of kind k, unless the run is stopping (calls cut
// short by the end are not errors).
func (s *soak) fail(k SoakKind, err error) {
	if s.stopping.Load() || err == nil {
		return
	}
	n := s.errs.Add(1)
	e := SoakError{Elapsed: time.Since(s.start).Seconds(), Kind: k, Message: err.Error()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errList) < soakMaxErrors {
		s.errList = append(s.errList, e)
	}
	if s.cfg.Live != nil && n <= soakMaxPrinted {
		fmt.Fprintf(s.cfg.Live, "soak error at %.1fs: %s: %s\n", e.Elapsed, k, e.Message)
		if n == soakMaxPrinted {
			fmt.Fprintln(s.cfg.Live, "soak: further errors are counted, not printed")
		}
	}
}

func (s *soak) printf(format string, args ...any) {
	if s.cfg.Live == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.cfg.Live, format, args...)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// dial connects one client; events connections run their callbacks
// serially, so that fire's events arrive in order.
func (s *soak) dial(ctx context.Context, k SoakKind) (*conn.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, soakDialTimeout)
	defer cancel()
	nc, err := dialTCP(dctx, s.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	opts := []conn.Option{conn.WithTimeout(soakOpTimeout), func(c *conn.Config) { c.Compress = s.cfg.Compress }}
	if k == SoakEvents {
		opts = append(opts, conn.WithExecutor(dispatch.NewSerial(nil)))
	}
	c, err := conn.NewNetConn(nc, nil, opts...)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.open.Add(1)
	return c, nil
}

func (s *soak) hangUp(c *conn.Conn) {
	_ = c.Close()
	s.open.Add(-1)
}

// steady runs slot's kind on a connection, reconnecting after an error,
// until ctx ends.
func (s *soak) steady(ctx context.Context, slot int, k SoakKind) {
	for ctx.Err() == nil {
		c, err := s.dial(ctx, k)
		if err != nil {
			s.fail(k, err)
			pause(ctx, 200*time.Millisecond)
			continue
		}
		s.slots[slot].Store(c)
		err = s.drive(ctx, slot, k, c)
		s.slots[slot].Store(nil)
		s.hangUp(c)
		if err != nil && ctx.Err() == nil {
			s.fail(k, err)
			pause(ctx, 200*time.Millisecond)
		}
	}
}

// op runs fn with the per-call deadline.
func op[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	octx, cancel := context.WithTimeout(ctx, soakOpTimeout)
	defer cancel()
	return fn(octx)
}

func callMethod(ctx context.Context, p *netref.Proxy, name string, args ...any) (any, error) {
	return op(ctx, func(ctx context.Context) (any, error) { return p.CallMethod(ctx, name, args...) })
}

// drive makes calls of kind k on c until ctx ends or one fails.
func (s *soak) drive(ctx context.Context, slot int, k SoakKind, c *conn.Conn) error {
	root, err := op(ctx, c.Root)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	switch k {
	case SoakEcho, SoakEcho64K:
		for i := int64(0); ctx.Err() == nil; i++ {
			var arg any = i
			if k == SoakEcho64K {
				arg = noise
			}
			v, err := callMethod(ctx, root, "echo", arg)
			if err != nil {
				return fmt.Errorf("echo: %w", err)
			}
			if !sameValue(v, arg) {
				return fmt.Errorf("echo: got %s, want %s", describe(v), describe(arg))
			}
			s.count(k, 1)
		}
	case SoakCallback:
		fn := func(x int64) int64 { return 2*x + 1 }
		for i := int64(0); ctx.Err() == nil; i++ {
			v, err := callMethod(ctx, root, "call", fn, i)
			if err != nil {
				return fmt.Errorf("call(func, %d): %w", i, err)
			}
			if v != 2*i+1 {
				return fmt.Errorf("call(func, %d): got %s, want %d", i, describe(v), 2*i+1)
			}
			s.count(k, 2) // the call and its callback
		}
	case SoakObjects:
		return s.objects(ctx, slot, root)
	case SoakAsync:
		return s.async(ctx, root)
	case SoakEvents:
		return s.events(ctx, root)
	}
	return nil
}

// objects makes soakObjectsPerRun Counters, increments each, closes them
// and checks that live_objects() is back where it started, in a loop.
func (s *soak) objects(ctx context.Context, slot int, root *netref.Proxy) error {
	cv, err := op(ctx, func(ctx context.Context) (any, error) { return root.GetAttr(ctx, "Counter") })
	if err != nil {
		return fmt.Errorf("root.Counter: %w", err)
	}
	cls, ok := cv.(*netref.Proxy)
	if !ok {
		return fmt.Errorf("root.Counter is %T", cv)
	}
	live := func() (int64, error) {
		v, err := callMethod(ctx, root, "live_objects")
		if err != nil {
			return 0, fmt.Errorf("live_objects: %w", err)
		}
		n, ok := v.(int64)
		if !ok {
			return 0, fmt.Errorf("live_objects: got %s", describe(v))
		}
		return n, nil
	}
	base, err := live()
	if err != nil {
		return err
	}
	s.objs[slot].Store(base)
	defer s.objs[slot].Store(0)
	s.count(SoakObjects, 2)
	ps := make([]*netref.Proxy, 0, soakObjectsPerRun)
	defer func() {
		for _, p := range ps {
			_ = p.Close()
		}
	}()
	for ctx.Err() == nil {
		for j := range int64(soakObjectsPerRun) {
			v, err := op(ctx, func(ctx context.Context) (any, error) { return cls.Call(ctx, 100*j) })
			if err != nil {
				return fmt.Errorf("Counter(%d): %w", 100*j, err)
			}
			p, ok := v.(*netref.Proxy)
			if !ok {
				return fmt.Errorf("Counter(%d) is %s", 100*j, describe(v))
			}
			ps = append(ps, p)
		}
		for j, p := range ps {
			v, err := callMethod(ctx, p, "incr", int64(1))
			if err != nil {
				return fmt.Errorf("counter.incr(1): %w", err)
			}
			if want := int64(100*j + 1); v != want {
				return fmt.Errorf("counter.incr(1): got %s, want %d", describe(v), want)
			}
		}
		for _, p := range ps {
			_ = p.Close() // HANDLE_DEL
		}
		ps = ps[:0]
		n, err := live()
		if err != nil {
			return err
		}
		s.objs[slot].Store(n)
		s.count(SoakObjects, 2*soakObjectsPerRun+1)
		if n != base {
			return fmt.Errorf("live_objects() is %d after the Counters were released, want %d (the server holds objects it was told to drop)", n, base)
		}
	}
	return nil
}

// async keeps cfg.Window echo calls in flight and checks each answer.
func (s *soak) async(ctx context.Context, root *netref.Proxy) error {
	type pending struct {
		r    *dispatch.AsyncResult
		want int64
	}
	w := max(s.cfg.Window, 1)
	q := make([]pending, 0, w)
	next := int64(0)
	for ctx.Err() == nil {
		for len(q) < w {
			r, err := root.CallMethodAsync("echo", next)
			if err != nil {
				return fmt.Errorf("async echo: %w", err)
			}
			q = append(q, pending{r, next})
			next++
		}
		head := q[0]
		q = q[1:]
		v, err := op(ctx, head.r.Result)
		if err != nil {
			return fmt.Errorf("async echo(%d): %w", head.want, err)
		}
		if v != head.want {
			return fmt.Errorf("async echo(%d): got %s", head.want, describe(v))
		}
		s.count(SoakAsync, 1)
	}
	return nil
}

// events subscribes a Go callback and fires soakFireN events at a time,
// waiting for all of them (in order) before the next fire.
func (s *soak) events(ctx context.Context, root *netref.Proxy) error {
	var got atomic.Int64
	var bad atomic.Pointer[string]
	sig := make(chan struct{}, 1)
	cb := func(i int64, payload any) {
		n := got.Add(1) - 1
		if want := n % soakFireN; i != want || payload != "evt" {
			msg := fmt.Sprintf("event %d: got callback(%d, %s), want callback(%d, 'evt')", n, i, describe(payload), want)
			bad.CompareAndSwap(nil, &msg)
		}
		select {
		case sig <- struct{}{}:
		default:
		}
	}
	if _, err := callMethod(ctx, root, "subscribe", cb); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	s.count(SoakEvents, 1)
	var want int64
	for ctx.Err() == nil {
		v, err := callMethod(ctx, root, "fire", int64(soakFireN), "evt")
		if err != nil {
			return fmt.Errorf("fire(%d): %w", soakFireN, err)
		}
		if v != int64(soakFireN) {
			return fmt.Errorf("fire(%d): got %s", soakFireN, describe(v))
		}
		s.count(SoakEvents, 1)
		want += soakFireN
		timeout := time.NewTimer(soakOpTimeout)
		for got.Load() < want && ctx.Err() == nil {
			select {
			case <-sig:
			case <-ctx.Done():
			case <-timeout.C:
				return fmt.Errorf("fire(%d): %d of the events arrived within %v", soakFireN, soakFireN-(want-got.Load()), soakOpTimeout)
			}
		}
		timeout.Stop()
		if m := bad.Load(); m != nil {
			return errors.New(*m)
		}
		s.count(SoakEvents, soakFireN)
	}
	return nil
}

// churn connects, makes one call and closes, in a loop.
func (s *soak) churn(ctx context.Context) {
	for i := int64(0); ctx.Err() == nil; i++ {
		if err := s.churnOnce(ctx, i); err != nil {
			s.fail(SoakChurn, err)
			pause(ctx, 200*time.Millisecond)
			continue
		}
		s.count(SoakChurn, 1)
	}
}

func (s *soak) churnOnce(ctx context.Context, i int64) error {
	c, err := s.dial(ctx, SoakChurn)
	if err != nil {
		return err
	}
	defer s.hangUp(c)
	v, err := op(ctx, func(ctx context.Context) (any, error) { return c.Call(ctx, "echo", i) })
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if v != i {
		return fmt.Errorf("echo(%d): got %s", i, describe(v))
	}
	return nil
}

// sameValue compares an echoed value with what was sent.
func sameValue(got, want any) bool {
	if w, ok := want.([]byte); ok {
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	}
	return got == want
}

// describe shows a value in an error message, briefly.
func describe(v any) string {
	if b, ok := v.([]byte); ok {
		return fmt.Sprintf("%d bytes", len(b))
	}
	return shorten(fmt.Sprintf("%T %v", v, v), 80)
}

// CountFDs returns the number of open file descriptors of pid.
func CountFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// sample reads the figures of now.
func (s *soak) sample(pid int, prev *SoakSample) SoakSample {
	sm := SoakSample{Elapsed: time.Since(s.start).Seconds(), Calls: map[SoakKind]int64{},
		Errors: s.errs.Load(), Conns: int(s.open.Load())}
	for i, k := range SoakKinds {
		sm.Calls[k] = s.calls[i].Load()
	}
	if prev != nil && sm.Elapsed > prev.Elapsed {
		sm.Rate = float64(sm.total()-prev.total()) / (sm.Elapsed - prev.Elapsed)
	} else if sm.Elapsed > 0 {
		sm.Rate = float64(sm.total()) / sm.Elapsed
	}
	if st, err := ReadTree(pid); err == nil {
		sm.ServerRSS, sm.ServerThreads = st.RSSBytes, st.Threads
	}
	sm.ServerFDs, _ = CountFDs(pid)
	for i := range s.objs {
		sm.ServerObjects += s.objs[i].Load()
	}
	for i := range s.slots {
		if c := s.slots[i].Load(); c != nil {
			sm.ClientHeld += c.HeldObjects()
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sm.ClientHeap, sm.ClientGoroutines = ms.HeapAlloc, runtime.NumGoroutine()
	return sm
}

// liveLine is one sample as a progress line.
func (s *soak) liveLine(sm *SoakSample) string {
	frac := min(sm.Elapsed/s.cfg.Duration.Seconds(), 1)
	filled := int(frac * progressWidth)
	return fmt.Sprintf("[%s%s] %3.0f%% %v/%v  calls %d (%s/s)  errors %d  conns %d  server: rss %s MiB, threads %d, fds %d, objects %d  client: heap %s MiB, goroutines %d, held %d",
		strings.Repeat("=", filled), strings.Repeat(" ", progressWidth-filled), frac*100,
		time.Duration(sm.Elapsed*float64(time.Second)).Round(time.Second), s.cfg.Duration,
		sm.total(), fmtRate(sm.Rate), sm.Errors, sm.Conns,
		fmtMB(sm.ServerRSS), sm.ServerThreads, sm.ServerFDs, sm.ServerObjects,
		fmtMB(int64(sm.ClientHeap)), sm.ClientGoroutines, sm.ClientHeld)
}

// RunSoak starts cfg.Target and runs the soak's mixed load against it for
// cfg.Duration, sampling every cfg.Interval. It returns the report (also
// when ctx ends early, with ctx's error); the run passed when the report
// is OK. An error without a report is a failure to start.
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakReport, error) {
	if cfg.Target.Kind != KindRPyCGo {
		return nil, fmt.Errorf("bench: soak: target %s is not an rpycgo server", cfg.Target.Name)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("bench: soak: duration %v", cfg.Duration)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSoakInterval
	}
	cfg.Interval = min(cfg.Interval, cfg.Duration)
	if cfg.Warmup < 0 {
		cfg.Warmup = DefaultSoakWarmup(cfg.Duration, cfg.Interval)
	}
	if cfg.Kinds == nil {
		cfg.Kinds = SoakKinds
	}
	for _, k := range cfg.Kinds {
		if _, err := ParseSoakKind(string(k)); err != nil {
			return nil, err
		}
	}
	steadyKinds, churn := cfg.split()
	if len(steadyKinds) == 0 {
		cfg.Conns = 0
	} else {
		cfg.Conns = max(cfg.Conns, 1)
	}
	if !churn {
		cfg.ChurnWorkers = 0
	}
	if cfg.Conns == 0 && cfg.ChurnWorkers == 0 {
		return nil, errors.New("bench: soak: no load (no kinds, or churn without churn workers)")
	}
	cfg.Window = max(cfg.Window, 1)
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	proc, err := Start(ctx, cfg.Target.compressed(cfg.Compress))
	if err != nil {
		return nil, err
	}
	defer proc.Stop()

	rep := &SoakReport{Started: time.Now(), Machine: ReadMachine(), Config: cfg, Warm: -1,
		Notes: []string{"server goroutines: rpyc-server exposes no goroutine count (no debug endpoint or stats request); its kernel threads from /proc are sampled instead"}}
	if st, err := ReadTree(proc.PID); err == nil {
		rep.IdleThreads = st.Threads
	}
	rep.IdleFDs, _ = CountFDs(proc.PID)

	s := &soak{cfg: cfg, addr: proc.Addr, start: time.Now(),
		slots: make([]atomic.Pointer[conn.Conn], cfg.Conns), objs: make([]atomic.Int64, cfg.Conns)}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		wg.Add(1)
		go func() { defer wg.Done(); s.steady(lctx, i, steadyKinds[i%len(steadyKinds)]) }()
	}
	for range cfg.ChurnWorkers {
		wg.Add(1)
		go func() { defer wg.Done(); s.churn(lctx) }()
	}

	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	take := func() {
		var prev *SoakSample
		if n := len(rep.Samples); n > 0 {
			prev = &rep.Samples[n-1]
		}
		sm := s.sample(proc.PID, prev)
		rep.Samples = append(rep.Samples, sm)
		s.printf("%s\n", s.liveLine(&sm))
		if !proc.Alive() {
			s.fail("server", fmt.Errorf("%s exited: %s", cfg.Target.Name, strings.TrimSpace(proc.Stderr())))
			cancel()
		}
	}
run:
	for {
		select {
		case <-tick.C:
			take()
			if lctx.Err() != nil {
				break run
			}
		case <-end.C:
			// The last sample is taken under load, at the end.
			if n := len(rep.Samples); n == 0 || time.Since(s.start).Seconds()-rep.Samples[n-1].Elapsed > cfg.Interval.Seconds()/4 {
				take()
			}
			break run
		case <-lctx.Done():
			break run
		}
	}
	s.stopping.Store(true)
	cancel()
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(soakStopTimeout):
		rep.Failures = append(rep.Failures, fmt.Sprintf("the workers did not stop within %v of the end (a call or dial hangs)", soakStopTimeout))
	}

	// Every client connection is closed: the server's fds should come back
	// to where they were before the first one.
	deadline := time.Now().Add(soakFDSettle)
	for {
		rep.ClosedFDs, _ = CountFDs(proc.PID)
		if rep.ClosedFDs <= rep.IdleFDs || time.Now().After(deadline) || !proc.Alive() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, err := ReadTree(proc.PID); err == nil {
		rep.ClosedThreads = st.Threads
	}
	s.finish(rep, proc)
	return rep, ctx.Err()
}

// finish fills in the totals and the drift checks.
func (s *soak) finish(rep *SoakReport, proc *Process) {
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Errors = s.errs.Load()
	s.mu.Lock()
	rep.ErrorList = append([]SoakError(nil), s.errList...)
	s.mu.Unlock()
	rep.Calls = map[SoakKind]int64{}
	for i, k := range SoakKinds {
		rep.Calls[k] = s.calls[i].Load()
	}
	cfg := s.cfg
	if rep.Errors > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d errors", rep.Errors))
	}
	steadyKinds, churn := cfg.split()
	for _, k := range SoakKinds {
		i := slices.Index(steadyKinds, k)
		if rep.Calls[k] == 0 && ((k == SoakChurn && churn) || (i >= 0 && cfg.Conns > i)) {
			rep.Failures = append(rep.Failures, fmt.Sprintf("no %s calls were made", k))
		}
	}
	if len(rep.Samples) == 0 {
		rep.Failures = append(rep.Failures, "no samples were taken")
		return
	}
	slack := cfg.Interval.Seconds() / 20 // a tick may come a hair early
	for i, sm := range rep.Samples {
		if sm.Elapsed >= cfg.Warmup.Seconds()-slack {
			rep.Warm = i
			break
		}
	}
	if rep.Warm < 0 {
		rep.Warm = 0
	}
	warm, last := rep.Samples[rep.Warm], rep.Samples[len(rep.Samples)-1]
	rep.RSSGrowth = last.ServerRSS - warm.ServerRSS
	if warm.ServerRSS > 0 {
		rep.RSSGrowthPct = 100 * float64(rep.RSSGrowth) / float64(warm.ServerRSS)
	}
	if rep.Warm == len(rep.Samples)-1 {
		rep.Notes = append(rep.Notes, "only one sample after the warm-up: no drift to measure")
	} else if cfg.MaxRSSGrowth > 0 && rep.RSSGrowthPct > 100*cfg.MaxRSSGrowth {
		rep.Failures = append(rep.Failures, fmt.Sprintf("server RSS grew %s MiB (%.1f%%) from the warm-up to the end, over the %.0f%% allowed",
			fmtMB(rep.RSSGrowth), rep.RSSGrowthPct, 100*cfg.MaxRSSGrowth))
	}
	if proc.Alive() && rep.ClosedFDs > rep.IdleFDs {
		rep.Failures = append(rep.Failures, fmt.Sprintf("the server holds %d fds %v after every connection was closed, %d before the first: %d leaked",
			rep.ClosedFDs, soakFDSettle, rep.IdleFDs, rep.ClosedFDs-rep.IdleFDs))
	}
	if !proc.Alive() {
		rep.Failures = append(rep.Failures, "the server died")
	}
}

// WriteTable prints the time series and the verdict.
func (r *SoakReport) WriteTable(w io.Writer) {
	m := r.Machine
	c := r.Config
	fmt.Fprintf(w, "rpyc-bench soak, %s, %s, %d CPUs (%s), Linux %s, %s, commit %s, %.0f s\n",
		c.Target.Name, r.Started.UTC().Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Commit, r.Seconds)
	steadyKinds, _ := c.split()
	fmt.Fprintf(w, "load: %d steady connections (%s in turn; async window %d) + %d churn loops; warm-up %v; sample every %v\n",
		c.Conns, strings.Join(kindNames(steadyKinds), ", "), c.Window, c.ChurnWorkers, c.Warmup, c.Interval)
	t := &table{title: "Soak time series (calls per kind in each interval; server MB: RSS; heap: client)",
		header: []string{"t s", "calls/s"}}
	for _, k := range SoakKinds {
		t.header = append(t.header, string(k))
	}
	t.header = append(t.header, "errors", "conns", "server MB", "threads", "fds", "objects", "heap MB", "goroutines", "held")
	for i, sm := range r.Samples {
		mark := ""
		if i == r.Warm {
			mark = "*"
		}
		row := []string{fmt.Sprintf("%.0f%s", sm.Elapsed, mark), fmtRate(sm.Rate)}
		for _, k := range SoakKinds {
			d := sm.Calls[k]
			if i > 0 {
				d -= r.Samples[i-1].Calls[k]
			}
			row = append(row, fmt.Sprint(d))
		}
		row = append(row, fmt.Sprint(sm.Errors), fmt.Sprint(sm.Conns), fmtMB(sm.ServerRSS), fmt.Sprint(sm.ServerThreads),
			fmt.Sprint(sm.ServerFDs), fmt.Sprint(sm.ServerObjects), fmtMB(int64(sm.ClientHeap)), fmt.Sprint(sm.ClientGoroutines), fmt.Sprint(sm.ClientHeld))
		t.rows = append(t.rows, row)
	}
	t.writeText(w)
	fmt.Fprintln(w, "* first sample after the warm-up")
	fmt.Fprintln(w)
	var total int64
	parts := make([]string, 0, len(SoakKinds))
	for _, k := range SoakKinds {
		total += r.Calls[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Calls[k]))
	}
	fmt.Fprintf(w, "calls: %d (%s)\n", total, strings.Join(parts, ", "))
	fmt.Fprintf(w, "errors: %d\n", r.Errors)
	for _, e := range r.ErrorList {
		fmt.Fprintf(w, "  at %.1fs %s: %s\n", e.Elapsed, e.Kind, e.Message)
	}
	if len(r.Samples) > 0 {
		warm, last := r.Samples[r.Warm], r.Samples[len(r.Samples)-1]
		fmt.Fprintf(w, "server RSS: %s MiB after the warm-up (%.0f s), %s MiB at the end (%.0f s): %+.1f MiB (%+.1f%%)\n",
			fmtMB(warm.ServerRSS), warm.Elapsed, fmtMB(last.ServerRSS), last.Elapsed, float64(r.RSSGrowth)/(1<<20), r.RSSGrowthPct)
		fmt.Fprintf(w, "server threads: %d idle, %d after the warm-up, %d at the end, %d after every connection closed\n",
			r.IdleThreads, warm.ServerThreads, last.ServerThreads, r.ClosedThreads)
		fmt.Fprintf(w, "server fds: %d idle, %d after the warm-up, %d at the end, %d after every connection closed\n",
			r.IdleFDs, warm.ServerFDs, last.ServerFDs, r.ClosedFDs)
		fmt.Fprintf(w, "client heap: %s MiB after the warm-up, %s MiB at the end\n", fmtMB(int64(warm.ClientHeap)), fmtMB(int64(last.ClientHeap)))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if r.OK() {
		fmt.Fprintln(w, "soak: PASS")
		return
	}
	for _, f := range r.Failures {
		fmt.Fprintln(w, "soak: FAIL:", f)
	}
}

func kindNames(ks []SoakKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// Plots returns the soak's charts over time: memory (server RSS, client
// heap) and concurrency (server threads and fds, client goroutines).
func (r *SoakReport) Plots() []Plot {
	n := len(r.Samples)
	xl := make([]string, n)
	every := max(1, (n+11)/12) // at most about 12 labels
	for i, sm := range r.Samples {
		if i%every == 0 || i == n-1 {
			xl[i] = fmt.Sprintf("%.0f", sm.Elapsed)
		}
	}
	rss, heap := make([]float64, n), make([]float64, n)
	thr, fds, gor := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, sm := range r.Samples {
		rss[i], heap[i] = float64(sm.ServerRSS)/(1<<20), float64(sm.ClientHeap)/(1<<20)
		thr[i], fds[i], gor[i] = float64(sm.ServerThreads), float64(sm.ServerFDs), float64(sm.ClientGoroutines)
	}
	mem := &Chart{Title: fmt.Sprintf("Soak memory, %s", r.Config.Target.Name), XLabel: "seconds", YLabel: "MiB", XLabels: xl,
		Series: []Series{{Name: "server RSS", Y: rss, Color: 0}, {Name: "client heap", Y: heap, Color: 1, Dashed: true}}}
	conc := &Chart{Title: fmt.Sprintf("Soak threads and goroutines, %s", r.Config.Target.Name), XLabel: "seconds", YLabel: "count", XLabels: xl,
		LogY: true,
		Series: []Series{{Name: "server threads", Y: thr, Color: 0}, {Name: "server fds", Y: fds, Color: 2},
			{Name: "client goroutines", Y: gor, Color: 1, Dashed: true}}}
	return []Plot{{File: "soak_memory.svg", Chart: mem}, {File: "soak_goroutines.svg", Chart: conc}}
}

// WriteJSON writes the whole report as indented JSON.
func (r *SoakReport) WriteJSON(w io.Writer) error { return writeIndentedJSON(w, r) }

// WriteFiles writes soak.json and the plots into dir and returns the paths
// written.
func (r *SoakReport) WriteFiles(dir string) ([]string, error) {
	fw, err := newFileWriter(dir)
	if err != nil {
		return nil, err
	}
	if err := fw.write("soak.json", r.WriteJSON); err != nil {
		return fw.paths, err
	}
	err = fw.plots(r.Plots())
	return fw.paths, err
}
