// Command rpyc-bench measures RPyC servers side by side in one run: rpycgo's
// rpyc-server in each mode and engine, Python rpyc 5.3's ThreadedServer,
// ThreadPoolServer and ForkingServer, and raw echo servers on gnet, netpoll
// and stdnet (the ceiling of this machine for the traffic). Every target is
// started as a subprocess on loopback and killed at the end, on error and
// on SIGINT.
//
//	rpyc-bench [--profile quick|full] [-t TARGETS] [-c CONNS] [-l PAYLOADS]
//	           [-d DURATION] [-w WARMUP] [-n CALLS] [-W WINDOW]
//	           [-i IDLE] [--churn DURATION] [-o DIR] [--compress=false]
//
// It prints a table (calls/s, latency percentiles, CPU, server memory,
// ratios to the ceiling and to Python's ThreadedServer) and writes
// results.json, results.md and SVG plots into --out. A progress bar runs on
// stderr. `make bench` runs the quick profile (under 5 minutes on two cores).
//
// With --soak DURATION it runs a soak instead: one rpyc-server (-t, default
// rpycgo:reactor:gnet) under a mixed load for DURATION: -c steady
// connections (default 64) dealt out to sync echo calls (small and 64 KiB),
// callbacks, object churn (Counters made, called and released, checked
// with live_objects()), windowed async calls (-W, default 16) and fired
// events, plus --churn-workers connect-call-close loops (default 4). Every
// --soak-interval it prints a line (calls, errors, server RSS, threads and
// fds, client heap and goroutines); at the end a time-series table, and
// soak.json, soak_memory.svg and soak_goroutines.svg in --out (default
// bench/results). It exits non-zero on any error, on server RSS growth
// from the warm-up (-w, default a tenth of the run) to the end above
// --soak-max-rss-growth percent, or on fds the server keeps after every
// connection closed.
//
//	rpyc-bench --soak 10m [-t rpycgo:MODE:ENGINE] [-c CONNS] [--churn-workers N]
//	           [-W WINDOW] [-w WARMUP] [--soak-interval 10s] [-o DIR]
//	           [--soak-kinds echo,echo64k,callback,objects,async,events,churn]
//
// Targets: rpycgo:MODE:ENGINE (MODE reactor, threadpool, threaded, process;
// ENGINE gnet, netpoll, stdnet), python:threaded|threadpool|forking,
// raw:gnet|netpoll|stdnet. Payloads: int, bytes100, bytes64k, callback,
// counter.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/rpycgo/rpycgo/bench"
)

// loadGeneratorGOGC is the load generator's GOGC unless the environment
// sets one.
const loadGeneratorGOGC = 400

func main() {
	if len(os.Args) > 1 && os.Args[1] == "raw-echo" {
		if err := rawEcho(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "rpyc-bench raw-echo:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv("GOGC") == "" {
		// The load generator shares the machine with the server it
		// measures: collecting less often leaves the server more CPU, the
		// same for every target. (Set here, not in the environment, which
		// the servers it starts would inherit.)
		debug.SetGCPercent(loadGeneratorGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	bench.StopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rpyc-bench:", err)
		os.Exit(1)
	}
}

// rawEcho is the hidden subcommand that serves the raw echo ceiling:
// rpyc-bench raw-echo --engine E --port P. It prints the bound port.
func rawEcho(args []string) error {
	fs := flag.NewFlagSet("raw-echo", flag.ContinueOnError)
	engine := fs.String("engine", "gnet", "gnet, netpoll or stdnet")
	port := fs.IntP("port", "p", 0, "TCP port (0: any)")
	host := fs.String("host", "127.0.0.1", "address to bind")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.ServeRawEcho(ctx, *engine, fmt.Sprintf("%s:%d", *host, *port), os.Stdout)
}

// profile is a named set of defaults.
type profile struct {
	targets, payloads              []string
	conns                          []int
	warmup, duration, idleDuration time.Duration
	churn                          time.Duration
	idle, churnWorkers             int
}

var profiles = map[string]profile{
	// quick finishes in about 3 minutes on two cores.
	"quick": {
		targets:  []string{"rpycgo:reactor:gnet", "python:threaded", "python:forking", "raw:gnet", "raw:stdnet"},
		payloads: []string{"int", "bytes64k", "callback", "counter"},
		conns:    []int{1, 16, 64, 256},
		warmup:   500 * time.Millisecond, duration: 2 * time.Second,
		idle: 1000, idleDuration: time.Second,
		churn: 2 * time.Second, churnWorkers: 4,
	},
	"full": {
		targets: []string{
			"rpycgo:reactor:gnet", "rpycgo:threadpool:netpoll", "rpycgo:threadpool:stdnet",
			"rpycgo:threaded:gnet", "rpycgo:process:gnet",
			"python:threaded", "python:threadpool", "python:forking",
			"raw:gnet", "raw:netpoll", "raw:stdnet",
		},
		payloads: []string{"int", "bytes100", "bytes64k", "callback", "counter"},
		conns:    []int{1, 16, 64, 256},
		warmup:   time.Second, duration: 5 * time.Second,
		idle: 19000, idleDuration: 3 * time.Second,
		churn: 5 * time.Second, churnWorkers: 8,
	},
}

// options are the command's flags.
type options struct {
	profile, out, rpycServer   string
	cpuprofile                 string
	targets, payloads          []string
	conns                      []int
	warmup, duration, idleDur  time.Duration
	churn                      time.Duration
	calls                      int64
	window, idle, churnWorkers int
	compress, noProgress       bool
	soak, soakInterval         time.Duration
	soakMaxGrowth              float64
	soakKinds                  []string
	set                        map[string]bool // the flags given
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("rpyc-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVarP(&o.profile, "profile", "P", "quick", "quick (under 5 minutes) or full; the flags below override it")
	fs.StringSliceVarP(&o.targets, "targets", "t", nil, "targets: rpycgo:MODE:ENGINE, python:threaded|threadpool|forking, raw:gnet|netpoll|stdnet")
	fs.IntSliceVarP(&o.conns, "conns", "c", nil, "connection counts of the throughput cells (1 to 19000)")
	fs.StringSliceVarP(&o.payloads, "payloads", "l", nil, "payloads: int, bytes100, bytes64k, callback, counter")
	fs.DurationVarP(&o.duration, "duration", "d", 0, "measured time per cell")
	fs.DurationVarP(&o.warmup, "warmup", "w", -1, "unmeasured warm-up per cell")
	fs.Int64VarP(&o.calls, "calls", "n", 0, "end each cell after this many measured calls (0: by duration)")
	fs.IntVarP(&o.window, "window", "W", 1, "calls in flight per connection: 1 is sync ping-pong, more is pipelined async")
	fs.IntVarP(&o.idle, "idle", "i", -1, "idle connections held in the idle scenario (0: skip; at most 19000)")
	fs.DurationVar(&o.idleDur, "idle-duration", 0, "time calls are measured while the idle connections are held")
	fs.DurationVar(&o.churn, "churn", -1, "length of the churn scenario (0: skip)")
	fs.IntVar(&o.churnWorkers, "churn-workers", 0, "concurrent connect-call-close loops in the churn scenario")
	fs.BoolVar(&o.compress, "compress", true, "RPyC's default compression of payloads above 3000 bytes in the client")
	fs.StringVarP(&o.out, "out", "o", "", "directory for results.json, results.md and the SVG plots")
	fs.StringVar(&o.rpycServer, "rpyc-server", "", "rpyc-server binary to use (default: go build it)")
	fs.BoolVarP(&o.noProgress, "quiet", "q", false, "no progress bar")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile (pprof) of the load generator to this file")
	fs.DurationVarP(&o.soak, "soak", "s", 0, "run a soak of this length instead: a mixed load on one rpycgo target (-t), sampled every --soak-interval")
	fs.DurationVar(&o.soakInterval, "soak-interval", bench.DefaultSoakInterval, "time between the soak's samples")
	fs.StringSliceVar(&o.soakKinds, "soak-kinds", nil, "the soak's load (default all): echo, echo64k, callback, objects, async, events, churn")
	fs.Float64Var(&o.soakMaxGrowth, "soak-max-rss-growth", 100*bench.DefaultSoakGrowth, "fail the soak when the server's RSS grows more than this percent from the warm-up to the end (0: report only)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// plan applies the profile, then the flags.
func (o *options) plan(bins bench.Binaries) (bench.Plan, error) {
	pr, ok := profiles[o.profile]
	if !ok {
		return bench.Plan{}, fmt.Errorf("--profile %q: quick or full", o.profile)
	}
	p := bench.Plan{Profile: o.profile, Window: o.window, Calls: o.calls, Compress: o.compress,
		Warmup: pr.warmup, Duration: pr.duration, Idle: pr.idle, IdleDuration: pr.idleDuration,
		ChurnDuration: pr.churn, ChurnWorkers: pr.churnWorkers, Conns: pr.conns}
	targets, payloads := pr.targets, pr.payloads
	if len(o.targets) > 0 {
		targets = o.targets
	}
	if len(o.payloads) > 0 {
		payloads = o.payloads
	}
	if len(o.conns) > 0 {
		p.Conns = o.conns
	}
	if o.duration > 0 {
		p.Duration = o.duration
	}
	if o.warmup >= 0 {
		p.Warmup = o.warmup
	}
	if o.idle >= 0 {
		p.Idle = o.idle
	}
	if o.idleDur > 0 {
		p.IdleDuration = o.idleDur
	}
	if o.churn >= 0 {
		p.ChurnDuration = o.churn
	}
	if o.churnWorkers > 0 {
		p.ChurnWorkers = o.churnWorkers
	}
	for _, n := range p.Conns {
		if n < 1 || n > bench.MaxConns {
			return p, fmt.Errorf("--conns %d: 1 to %d", n, bench.MaxConns)
		}
	}
	if p.Idle > bench.MaxConns {
		return p, fmt.Errorf("--idle %d: at most %d", p.Idle, bench.MaxConns)
	}
	if p.Window < 1 || p.Window > 1024 {
		return p, fmt.Errorf("--window %d: 1 to 1024", p.Window)
	}
	if p.Duration > 10*time.Minute {
		return p, fmt.Errorf("--duration %v: at most 10m", p.Duration)
	}
	seen := map[string]bool{}
	for _, name := range targets {
		t, err := bench.ParseTarget(strings.TrimSpace(name), bins)
		if err != nil {
			return p, err
		}
		if !seen[t.Name] {
			seen[t.Name] = true
			p.Targets = append(p.Targets, t)
		}
	}
	for _, name := range payloads {
		pl, err := bench.ParsePayload(strings.TrimSpace(name))
		if err != nil {
			return p, err
		}
		p.Payloads = append(p.Payloads, pl)
	}
	return p, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.soak != 0 {
		return runSoak(ctx, o, stdout, stderr)
	}
	bins, cleanup, err := tempBinaries(ctx, o)
	if err != nil {
		return err
	}
	defer cleanup()
	plan, err := o.plan(bins)
	if err != nil {
		return err
	}
	needPython := false
	for _, t := range plan.Targets {
		needPython = needPython || t.Kind == bench.KindPython
	}
	if needPython {
		if err := bench.CheckPython(ctx); err != nil {
			return err
		}
	}
	var prog *bench.Progress
	if !o.noProgress {
		prog = bench.NewProgress(stderr)
	}
	rep, err := bench.Execute(ctx, plan, prog)
	if rep == nil {
		return err
	}
	rep.WriteTable(stdout)
	if o.out != "" {
		paths, werr := rep.WriteFiles(o.out)
		if werr != nil {
			return werr
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(paths, ", "))
	}
	return err
}

// defaultSoakOut is where the soak writes its files without --out.
const defaultSoakOut = "bench/results"

// maxSoak bounds a soak.
const maxSoak = 24 * time.Hour

// soakConfig checks the flags of a soak and builds its configuration.
func (o *options) soakConfig(bins bench.Binaries) (bench.SoakConfig, error) {
	cfg := bench.SoakConfig{Duration: o.soak, Interval: o.soakInterval, Warmup: -1,
		Conns: bench.DefaultSoakConns, ChurnWorkers: bench.DefaultSoakChurn, Window: bench.DefaultSoakWindow,
		Compress: o.compress, MaxRSSGrowth: o.soakMaxGrowth / 100}
	if o.soak < 0 || o.soak > maxSoak {
		return cfg, fmt.Errorf("--soak %v: more than 0, at most %v", o.soak, maxSoak)
	}
	if o.soakInterval < 100*time.Millisecond || o.soakInterval > o.soak {
		return cfg, fmt.Errorf("--soak-interval %v: from 100ms to the soak's length", o.soakInterval)
	}
	if o.soakMaxGrowth < 0 {
		return cfg, fmt.Errorf("--soak-max-rss-growth %v: 0 or more", o.soakMaxGrowth)
	}
	name := "rpycgo"
	switch len(o.targets) {
	case 0:
	case 1:
		name = o.targets[0]
	default:
		return cfg, fmt.Errorf("--soak runs one target, not %d", len(o.targets))
	}
	t, err := bench.ParseTarget(strings.TrimSpace(name), bins)
	if err != nil {
		return cfg, err
	}
	if t.Kind != bench.KindRPyCGo {
		return cfg, fmt.Errorf("--soak: target %s: the soak runs against rpyc-server (rpycgo:MODE:ENGINE)", t.Name)
	}
	cfg.Target = t
	for _, name := range o.soakKinds {
		k, err := bench.ParseSoakKind(strings.TrimSpace(name))
		if err != nil {
			return cfg, err
		}
		cfg.Kinds = append(cfg.Kinds, k)
	}
	if o.set["conns"] {
		if len(o.conns) != 1 || o.conns[0] < 1 || o.conns[0] > bench.MaxConns {
			return cfg, fmt.Errorf("--conns with --soak: one count of steady connections, 1 to %d", bench.MaxConns)
		}
		cfg.Conns = o.conns[0]
	}
	if o.set["churn-workers"] {
		if o.churnWorkers < 0 || o.churnWorkers > 1024 {
			return cfg, fmt.Errorf("--churn-workers %d: 0 to 1024", o.churnWorkers)
		}
		cfg.ChurnWorkers = o.churnWorkers
	}
	if o.set["window"] {
		if o.window < 1 || o.window > 1024 {
			return cfg, fmt.Errorf("--window %d: 1 to 1024", o.window)
		}
		cfg.Window = o.window
	}
	if o.set["warmup"] {
		if o.warmup < 0 || o.warmup >= o.soak {
			return cfg, fmt.Errorf("--warmup %v with --soak: 0 to less than the soak's length", o.warmup)
		}
		cfg.Warmup = o.warmup
	}
	return cfg, nil
}

// runSoak runs the soak and prints and writes its report; it fails when
// the soak did.
func runSoak(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	// Check the flags before building anything.
	if _, err := o.soakConfig(bench.Binaries{RPyCServer: "rpyc-server"}); err != nil {
		return err
	}
	bins, cleanup, err := tempBinaries(ctx, o)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, err := o.soakConfig(bins)
	if err != nil {
		return err
	}
	if !o.noProgress {
		cfg.Live = stderr
		fmt.Fprintf(stderr, "soak: %s for %v, %d steady connections + %d churn loops, a sample every %v\n",
			cfg.Target.Name, cfg.Duration, cfg.Conns, cfg.ChurnWorkers, cfg.Interval)
	}
	rep, err := bench.RunSoak(ctx, cfg)
	if rep == nil {
		return err
	}
	rep.WriteTable(stdout)
	out := o.out
	if out == "" {
		out = defaultSoakOut
	}
	paths, werr := rep.WriteFiles(out)
	if werr != nil {
		return werr
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(paths, ", "))
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("soak failed: %s", strings.Join(rep.Failures, "; "))
	}
	return nil
}

// binaries builds rpyc-server (unless given) and writes the Python script
// into dir; the raw echo server is this binary's raw-echo subcommand.
// tempBinaries is binaries built into a temporary directory; cleanup
// removes it.
func tempBinaries(ctx context.Context, o *options) (bench.Binaries, func(), error) {
	tmp, err := os.MkdirTemp("", "rpyc-bench-")
	if err != nil {
		return bench.Binaries{}, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	bins, err := binaries(ctx, o, tmp)
	if err != nil {
		cleanup()
		return bench.Binaries{}, nil, err
	}
	return bins, cleanup, nil
}

func binaries(ctx context.Context, o *options, dir string) (bench.Binaries, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.Binaries{}, err
	}
	b := bench.Binaries{RPyCServer: o.rpycServer, RawEcho: []string{self, "raw-echo"},
		Python: bench.PythonInterpreter, PyScript: filepath.Join(dir, "py_echo_server.py")}
	if err := os.WriteFile(b.PyScript, bench.PyEchoServerScript, 0o644); err != nil {
		return b, err
	}
	if b.RPyCServer == "" {
		b.RPyCServer = filepath.Join(dir, "rpyc-server")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.RPyCServer, "github.com/rpycgo/rpycgo/cmd/rpyc-server")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("building rpyc-server (run from the module, or give --rpyc-server): %v\n%s", err, out)
		}
	}
	return b, nil
}
