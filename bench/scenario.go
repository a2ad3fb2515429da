package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Plan is a whole benchmark: which targets, which cells, how long.
type Plan struct {
	Profile  string        `json:"profile"`
	Targets  []Target      `json:"targets"`
	Conns    []int         `json:"conns"`
	Payloads []Payload     `json:"payloads"`
	Window   int           `json:"window"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Calls, when > 0, ends each cell after that many measured calls.
	Calls int64 `json:"calls,omitempty"`
	// Compress keeps RPyC's default compression on in the client.
	Compress bool `json:"compress"`
	// Idle is the number of idle connections held in the idle scenario (0:
	// skipped); IdleDuration is how long calls are measured meanwhile.
	Idle         int           `json:"idle"`
	IdleDuration time.Duration `json:"idle_duration_ns"`
	// ChurnDuration is the length of the churn scenario (0: skipped), run
	// by ChurnWorkers loops of connect, one call, close.
	ChurnDuration time.Duration `json:"churn_duration_ns"`
	ChurnWorkers  int           `json:"churn_workers"`
}

// Cell is one throughput/latency measurement.
type Cell struct {
	Target  string  `json:"target"`
	Kind    Kind    `json:"kind"`
	Payload Payload `json:"payload"`
	Conns   int     `json:"conns"`
	Window  int     `json:"window"`
	Result  *Result `json:"result,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// IdleResult is the idle-capacity measurement of one target.
type IdleResult struct {
	Target      string `json:"target"`
	Kind        Kind   `json:"kind"`
	Idle        int    `json:"idle"`
	Opened      int    `json:"opened"`
	BaselineRSS int64  `json:"baseline_rss_bytes"`
	HeldRSS     int64  `json:"held_rss_bytes"`
	BaselinePSS int64  `json:"baseline_pss_bytes"`
	HeldPSS     int64  `json:"held_pss_bytes"`
	// BytesPerConn is the growth of the server's PSS (its whole process
	// tree) per idle connection held.
	BytesPerConn float64 `json:"bytes_per_conn"`
	HeldThreads  int     `json:"held_threads"`
	HeldProcs    int     `json:"held_procs"`
	Latency      *Result `json:"latency,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// ChurnResult is the connection churn measurement of one target.
type ChurnResult struct {
	Target      string  `json:"target"`
	Kind        Kind    `json:"kind"`
	Workers     int     `json:"workers"`
	Cycles      int64   `json:"cycles"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	ConnsPerSec float64 `json:"conns_per_s"`
	Latency     Latency `json:"latency"`
	Error       string  `json:"error,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Commit    string `json:"commit,omitempty"`
}

// Report is everything a run measured.
type Report struct {
	Started  time.Time     `json:"started"`
	Seconds  float64       `json:"seconds"`
	Machine  Machine       `json:"machine"`
	Plan     Plan          `json:"plan"`
	Cells    []Cell        `json:"cells"`
	Idle     []IdleResult  `json:"idle,omitempty"`
	Churn    []ChurnResult `json:"churn,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
}

// rawPayload reports whether the raw ceiling runs payload p: the raw
// server does not call back or hold objects, so the int cell is the ceiling
// of the small callback and counter calls.
func rawPayload(p Payload) bool {
	return p == PayloadInt || p == PayloadBytes100 || p == PayloadBytes64K
}

// cellCount counts the measurements of a plan (for the progress bar).
func (p *Plan) estimate() time.Duration {
	var total time.Duration
	cell := p.Warmup + p.Duration + 700*time.Millisecond
	for _, t := range p.Targets {
		for _, pl := range p.Payloads {
			if t.Kind == KindRaw && !rawPayload(pl) {
				continue
			}
			total += time.Duration(len(p.Conns)) * cell
		}
		if p.Idle > 0 {
			total += p.IdleDuration + 3*time.Second
		}
		if p.ChurnDuration > 0 {
			total += p.ChurnDuration + 500*time.Millisecond
		}
	}
	return total
}

// Execute runs the plan, target after target, and returns the report. A
// failing cell is recorded and the run goes on; every target is stopped
// before Execute returns, also when ctx ends.
func Execute(ctx context.Context, plan Plan, prog *Progress) (*Report, error) {
	if len(plan.Targets) == 0 {
		return nil, errNoTargets
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	defer StopAll()
	rep := &Report{Started: time.Now(), Machine: ReadMachine(), Plan: plan}
	est := plan.estimate()
	prog.Start(est)
	var doneEst time.Duration
	cellEst := plan.Warmup + plan.Duration + 700*time.Millisecond

	for _, t := range plan.Targets {
		if ctx.Err() != nil {
			break
		}
		var proc *Process
		ensure := func() error {
			if proc != nil && proc.Alive() {
				return nil
			}
			if proc != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s died and was restarted: %s", t.Name, strings.TrimSpace(proc.Stderr())))
				proc.Stop()
			}
			var err error
			proc, err = Start(ctx, t.compressed(plan.Compress))
			return err
		}
		for _, pl := range plan.Payloads {
			if t.Kind == KindRaw && !rawPayload(pl) {
				continue
			}
			for _, n := range plan.Conns {
				if ctx.Err() != nil {
					break
				}
				cell := Cell{Target: t.Name, Kind: t.Kind, Payload: pl, Conns: n, Window: max(plan.Window, 1)}
				prog.Step(fmt.Sprintf("%s %s x%d", t.Name, pl, n))
				if err := ensure(); err != nil {
					cell.Error = err.Error()
				} else {
					base := doneEst
					res, err := Run(ctx, Workload{
						Addr: proc.Addr, Raw: t.Kind == KindRaw, Conns: n, Payload: pl,
						Window: plan.Window, Warmup: plan.Warmup, Duration: plan.Duration,
						Calls: plan.Calls, Compress: plan.Compress, ServerPID: proc.PID,
						Progress: func(f float64) { prog.Set(base + time.Duration(f*float64(cellEst))) },
					})
					cell.Result = res
					if err != nil {
						cell.Error = err.Error()
					}
				}
				rep.Cells = append(rep.Cells, cell)
				doneEst += cellEst
				prog.Set(doneEst)
			}
		}
		if proc != nil {
			proc.Stop()
		}
		if plan.Idle > 0 && ctx.Err() == nil {
			prog.Step(fmt.Sprintf("%s idle x%d", t.Name, plan.Idle))
			rep.Idle = append(rep.Idle, runIdle(ctx, t, plan))
			doneEst += plan.IdleDuration + 3*time.Second
			prog.Set(doneEst)
		}
		if plan.ChurnDuration > 0 && ctx.Err() == nil {
			prog.Step(fmt.Sprintf("%s churn", t.Name))
			rep.Churn = append(rep.Churn, runChurn(ctx, t, plan))
			doneEst += plan.ChurnDuration + 500*time.Millisecond
			prog.Set(doneEst)
		}
	}
	if ctx.Err() != nil {
		prog.Abort("interrupted")
	} else {
		prog.Finish()
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep, ctx.Err()
}

// runIdle starts a fresh t, measures its RSS with one connection in use,
// opens plan.Idle idle TCP connections, measures again, and measures the
// latency of calls on one more connection while they are held.
func runIdle(ctx context.Context, t Target, plan Plan) (r IdleResult) {
	r = IdleResult{Target: t.Name, Kind: t.Kind, Idle: plan.Idle}
	if t.Name == "python:forking" && r.Idle > ForkingIdleCap {
		// A process per connection: 19,000 of them would exhaust the machine.
		r.Idle = ForkingIdleCap
	}
	proc, err := Start(ctx, t.compressed(plan.Compress))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer proc.Stop()
	// Warm the server with one short run, then take the baseline.
	if _, err := Run(ctx, Workload{Addr: proc.Addr, Raw: t.Kind == KindRaw, Conns: 1, Payload: PayloadInt,
		Duration: 300 * time.Millisecond}); err != nil {
		r.Error = err.Error()
		return r
	}
	time.Sleep(200 * time.Millisecond)
	base, err := ReadTree(proc.PID)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.BaselineRSS, r.BaselinePSS = base.RSSBytes, base.PSSBytes

	conns := make([]*idleConn, r.Idle)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var opened atomic.Int64
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, dialParallel)
	var wg sync.WaitGroup
	for i := range conns {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := dialIdle(dctx, proc.Addr)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			conns[i] = c
			opened.Add(1)
		}()
	}
	wg.Wait()
	r.Opened = int(opened.Load())
	if firstErr != nil {
		r.Error = fmt.Sprintf("%d of %d idle connections failed: %v", r.Idle-r.Opened, r.Idle, firstErr)
	}
	// Let the server take them all in (accept queues, worker processes).
	time.Sleep(time.Second)
	held, err := ReadTree(proc.PID)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.HeldRSS, r.HeldPSS, r.HeldThreads, r.HeldProcs = held.RSSBytes, held.PSSBytes, held.Threads, held.Procs
	if r.Opened > 0 {
		r.BytesPerConn = float64(r.HeldPSS-r.BaselinePSS) / float64(r.Opened)
	}
	res, err := Run(ctx, Workload{Addr: proc.Addr, Raw: t.Kind == KindRaw, Conns: 1, Payload: PayloadInt,
		Warmup: 200 * time.Millisecond, Duration: plan.IdleDuration, ServerPID: proc.PID})
	r.Latency = res
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	return r
}

// ForkingIdleCap bounds the idle connections held against Python's
// ForkingServer, which forks a process for each.
const ForkingIdleCap = 1000

// idleConn is a connected TCP socket that sends nothing.
type idleConn struct{ nc interface{ Close() error } }

func (c *idleConn) Close() { _ = c.nc.Close() }

func dialIdle(ctx context.Context, addr string) (*idleConn, error) {
	nc, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &idleConn{nc: nc}, nil
}

// runChurn starts a fresh t and runs plan.ChurnWorkers loops of connect,
// one echo call, close, for plan.ChurnDuration.
func runChurn(ctx context.Context, t Target, plan Plan) (r ChurnResult) {
	r = ChurnResult{Target: t.Name, Kind: t.Kind, Workers: max(plan.ChurnWorkers, 1)}
	proc, err := Start(ctx, t.compressed(plan.Compress))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer proc.Stop()
	end := time.Now().Add(plan.ChurnDuration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	hists := make([]*Histogram, r.Workers)
	var cycles, errs atomic.Int64
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for i := range hists {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := churnOnce(ctx, proc.Addr, t.Kind == KindRaw)
				if err != nil {
					if ctx.Err() != nil || !time.Now().Before(end) {
						return
					}
					errs.Add(1)
					once.Do(func() { r.FirstError = err.Error() })
					time.Sleep(time.Millisecond)
					continue
				}
				hists[i].Record(time.Since(t0))
				cycles.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := NewHistogram()
	for _, h := range hists {
		total.Merge(h)
	}
	r.Cycles, r.Errors, r.Seconds = cycles.Load(), errs.Load(), elapsed.Seconds()
	r.ConnsPerSec = float64(r.Cycles) / elapsed.Seconds()
	r.Latency = total.Summary()
	return r
}

// churnOnce connects, makes one call and closes.
func churnOnce(ctx context.Context, addr string, raw bool) error {
	if raw {
		rc, err := dialRaw(ctx, addr, PayloadInt)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := rc.send(); err != nil {
			return err
		}
		_, err = rc.recv()
		return err
	}
	c, err := dialRPyC(ctx, addr, true)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Call(ctx, "echo", int64(42))
	return err
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					m.CPUModel = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}

// ErrInterrupted reports a run cut short by a signal.
var ErrInterrupted = errors.New("bench: interrupted")

// MaxConns is the most connections a run opens at once: the open-file limit
// here is 20,000 per process.
const MaxConns = 19000

// CheckPython fails, saying how to fix it, unless PythonInterpreter can
// import rpyc.
func CheckPython(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, PythonInterpreter, "-c", "import rpyc; print(rpyc.__version__)").CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: %s cannot import rpyc (run `make deps`): %v: %s", PythonInterpreter, err, strings.TrimSpace(string(out)))
	}
	return nil
}
