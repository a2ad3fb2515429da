package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpycgo/rpycgo/conn"
)

// Workload describes one load run against one listening target.
type Workload struct {
	// Addr is the target's host:port (loopback).
	Addr string
	// Raw speaks bare frames (the raw echo ceiling) instead of RPyC.
	Raw bool
	// Conns is the number of connections, each driven by its own worker.
	Conns int
	// Payload is the call shape.
	Payload Payload
	// Window is the number of calls each connection keeps in flight: 0 or
	// 1 is synchronous ping-pong, more is pipelined async calls.
	Window int
	// Warmup runs calls that are not measured.
	Warmup time.Duration
	// Duration is the measured time. When Calls is set the run ends after
	// Calls measured calls instead, or after Duration if that comes first
	// (Duration 0: no time bound but MaxDuration).
	Duration time.Duration
	// Calls, when > 0, is the number of measured calls.
	Calls int64
	// Compress leaves RPyC's default compression of payloads above 3000
	// bytes on in the client (the server decides for its replies).
	Compress bool
	// ServerPID, when non-zero, is read from /proc at the start and end of
	// the measured period.
	ServerPID int
	// Progress, when set, is called with the fraction of the run done.
	Progress func(frac float64)
}

// MaxDuration bounds any run whose Duration is zero.
const MaxDuration = 2 * time.Minute

// Result is what one load run measured.
type Result struct {
	Calls       int64   `json:"calls"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"calls_per_s"`
	Latency     Latency `json:"latency"`
	// ClientCPU and ServerCPU are in cores (1.0 = one core busy).
	ClientCPU float64 `json:"client_cpu"`
	ServerCPU float64 `json:"server_cpu"`
	// ServerRSS, ServerPSS and ServerThreads are read at the end of the
	// run, summed over the server's process tree.
	ServerRSS     int64 `json:"server_rss_bytes"`
	ServerPSS     int64 `json:"server_pss_bytes"`
	ServerThreads int   `json:"server_threads"`
	ServerProcs   int   `json:"server_procs"`
}

// worker drives one connection.
type worker interface {
	// run makes calls until stop says so, recording each in h when
	// measuring is true at the call's start.
	run(ctx context.Context, v *loopView) error
	close()
}

// loop is the shared state of one run's workers.
type loop struct {
	start    time.Time
	measure  atomic.Bool // past the warm-up
	stopped  atomic.Bool
	budget   atomic.Int64 // measured calls left (Calls mode)
	counted  bool
	calls    atomic.Int64
	errs     atomic.Int64
	errOnce  sync.Once
	firstErr string
	window   int
}

// begin reserves one call; it reports whether to go on and whether the
// call is measured.
func (l *loop) begin() (ok, measured bool) {
	if l.stopped.Load() {
		return false, false
	}
	if !l.measure.Load() {
		return true, false
	}
	if l.counted && l.budget.Add(-1) < 0 {
		l.stopped.Store(true)
		return false, false
	}
	return true, true
}

func (l *loop) fail(err error) {
	l.errs.Add(1)
	l.errOnce.Do(func() { l.firstErr = err.Error() })
}

// Run dials w.Conns connections to w.Addr, warms up, measures and returns
// the result. Connection failures while dialling fail the run; call errors
// are counted (a worker whose connection dies stops).
func Run(ctx context.Context, w Workload) (*Result, error) {
	if w.Conns < 1 {
		w.Conns = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers, err := dialWorkers(ctx, w)
	defer func() {
		for _, wk := range workers {
			if wk != nil {
				wk.close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	l := &loop{start: time.Now(), counted: w.Calls > 0, window: max(w.Window, 1)}
	l.budget.Store(w.Calls)
	hists := make([]*Histogram, len(workers))
	var wg sync.WaitGroup
	for i, wk := range workers {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wk.run(ctx, &loopView{loop: l, h: hists[i]}); err != nil && !l.stopped.Load() {
				l.fail(err)
			}
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	// Warm-up.
	select {
	case <-time.After(w.Warmup):
	case <-allDone:
	case <-ctx.Done():
	}
	cpu0, _ := ReadCPU(os.Getpid())
	var srv0 ProcStat
	if w.ServerPID != 0 {
		srv0, _ = ReadTree(w.ServerPID)
	}
	t0 := time.Now()
	l.measure.Store(true)

	limit := w.Duration
	if limit <= 0 {
		limit = MaxDuration
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		case <-tick.C:
			if w.Progress != nil {
				frac := time.Since(t0).Seconds() / limit.Seconds()
				if l.counted {
					frac = max(frac, float64(w.Calls-max(l.budget.Load(), 0))/float64(w.Calls))
				}
				w.Progress(min(frac, 1))
			}
		}
	}
	l.stopped.Store(true)
	elapsed := time.Since(t0)
	cpu1, _ := ReadCPU(os.Getpid())
	var srv1 ProcStat
	if w.ServerPID != 0 {
		srv1, _ = ReadTree(w.ServerPID)
	}
	// Let in-flight calls finish (bounded) so their histograms are stable.
	select {
	case <-allDone:
	case <-time.After(5 * time.Second):
		cancel()
		<-allDone
	}

	total := NewHistogram()
	for _, h := range hists {
		total.Merge(h)
	}
	res := &Result{
		Calls:         l.calls.Load(),
		Errors:        l.errs.Load(),
		FirstError:    l.firstErr,
		Seconds:       elapsed.Seconds(),
		Latency:       total.Summary(),
		ClientCPU:     (cpu1 - cpu0) / elapsed.Seconds(),
		ServerRSS:     srv1.RSSBytes,
		ServerPSS:     srv1.PSSBytes,
		ServerThreads: srv1.Threads,
		ServerProcs:   srv1.Procs,
	}
	if w.ServerPID != 0 {
		res.ServerCPU = (srv1.CPUSeconds - srv0.CPUSeconds) / elapsed.Seconds()
	}
	res.CallsPerSec = float64(res.Calls) / elapsed.Seconds()
	if w.Progress != nil {
		w.Progress(1)
	}
	return res, ctx.Err()
}

// loopView is a worker's handle on the loop: the shared state and its own
// histogram.
type loopView struct {
	*loop
	h *Histogram
}

// done records a call that started at start.
func (v *loopView) done(start time.Time, measured bool, err error) {
	if err != nil {
		if !v.stopped.Load() {
			v.fail(err)
		}
		return
	}
	// By count, every measured call counts; by time, none that ends late.
	if measured && (v.counted || !v.stopped.Load()) {
		v.h.Record(time.Since(start))
		v.calls.Add(1)
	}
}

// dialParallel bounds the dials in flight.
const dialParallel = 64

func dialWorkers(ctx context.Context, w Workload) ([]worker, error) {
	workers := make([]worker, w.Conns)
	errs := make([]error, w.Conns)
	sem := make(chan struct{}, dialParallel)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if w.Raw {
				rc, err := dialRaw(dctx, w.Addr, w.Payload)
				if err != nil {
					errs[i] = err
					return
				}
				workers[i] = &rawWorker{rc: rc}
				return
			}
			c, err := dialRPyC(dctx, w.Addr, w.Compress)
			if err != nil {
				errs[i] = err
				return
			}
			cl, err := newCaller(dctx, c, w.Payload)
			if err != nil {
				c.Close()
				errs[i] = err
				return
			}
			workers[i] = &rpycWorker{c: c, cl: cl}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return workers, fmt.Errorf("bench: dialling %d connections to %s: %w", w.Conns, w.Addr, firstErr(errs))
	}
	return workers, nil
}

func firstErr(errs []error) error {
	n := 0
	var first error
	for _, e := range errs {
		if e != nil {
			if first == nil {
				first = e
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more)", first, n-1)
	}
	return first
}

// dialRPyC connects an rpycgo client to addr.
func dialRPyC(ctx context.Context, addr string, compress bool) (*conn.Conn, error) {
	nc, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	return conn.NewNetConn(nc, nil, conn.WithTimeout(30*time.Second),
		func(c *conn.Config) { c.Compress = compress })
}
