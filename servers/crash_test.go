package servers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// panickyName is the name of panickyService, which process-pool workers of
// the test binary find through the init below (TestMain's lookup knows
// only CONFORMANCE).
const panickyName = "PANICKY"

// panicValue is a panic value that is not an error.
type panicValue struct {
	Code int
	Why  string
}

// panickyService is a service whose methods panic, each a different way.
type panickyService struct{}

// Echo returns x: the connection still serves after a panic.
func (panickyService) Echo(x any) any { return x }

// Pid is the serving process: a worker that survives a panic keeps its pid.
func (panickyService) Pid() int { return os.Getpid() }

// PanicError panics with an error value.
func (panickyService) PanicError() { panic(errors.New("boom: an error value")) }

// PanicValue panics with a value that is no error.
func (panickyService) PanicValue() { panic(panicValue{Code: 42, Why: "not an error"}) }

// PanicRuntime is a runtime error: an index out of range.
func (panickyService) PanicRuntime() int {
	var s []int
	i := 3
	return s[i]
}

// CallWithBomb calls the caller's fn with a function of this side that
// panics: the panic happens while the server waits in a callback into the
// client, in a request nested in this one.
func (panickyService) CallWithBomb(ctx context.Context, fn any) (any, error) {
	p, ok := fn.(*netref.Proxy)
	if !ok {
		return nil, codec.Errorf("TypeError", "not a callable of the peer: %T", fn)
	}
	return p.Call(ctx, func() { panic("boom: inside the client's callback") })
}

// PanicAfterCallback calls the caller's fn, then panics with its result.
func (panickyService) PanicAfterCallback(ctx context.Context, fn any) any {
	p, ok := fn.(*netref.Proxy)
	if !ok {
		panic(fmt.Sprintf("not a callable of the peer: %T", fn))
	}
	v, err := p.Call(ctx)
	panic(fmt.Sprintf("boom: after the callback returned %v (%v)", v, err))
}

func panickySvc() conn.Service { return services.New(panickyService{}, services.WithName(panickyName)) }

// init makes the test binary a process-pool worker of panickyService when
// started as one (before TestMain, whose lookup knows only CONFORMANCE).
func init() {
	if os.Getenv(envWorker) == "1" && os.Getenv(envService) == panickyName {
		RunWorkerIfChild(func(string) (conn.Service, error) { return panickySvc(), nil })
	}
}

// logSink collects a server's log lines (JSON) for the test to read.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logger logs warnings and errors into the sink (a process pool's workers
// inherit the level and log to the test's stderr).
func (s *logSink) logger() zerolog.Logger {
	return zerolog.New(s).Level(zerolog.WarnLevel)
}

// count counts the lines that contain every one of subs.
func (s *logSink) count(subs ...string) int {
	n := 0
	for _, line := range strings.Split(s.String(), "\n") {
		all := line != ""
		for _, sub := range subs {
			all = all && strings.Contains(line, sub)
		}
		if all {
			n++
		}
	}
	return n
}

// panicCall is one call of panickyService that panics on the server, and
// what the exception the client gets says.
type panicCall struct {
	method string
	args   []any
	want   string
}

func panicCalls() []panicCall {
	return []panicCall{
		{"panic_error", nil, "boom: an error value"},
		{"panic_value", nil, "not an error"},
		{"panic_runtime", nil, "index out of range"},
		{"call_with_bomb", []any{func(ctx context.Context, bomb any) (any, error) {
			p, ok := bomb.(*netref.Proxy)
			if !ok {
				return nil, fmt.Errorf("bomb is a %T", bomb)
			}
			return p.Call(ctx) // raises the server's panic back to it
		}}, "boom: inside the client's callback"},
		{"panic_after_callback", []any{func() string { return "cb" }}, "after the callback returned cb"},
	}
}

// requirePanicsAnswered makes every panicking call on c and checks that
// each is answered by a RuntimeError (*codec.PyError) and that c keeps
// serving; it returns the number of panics the server had.
func requirePanicsAnswered(t *testing.T, c *conn.Conn) int {
	t.Helper()
	panics := 0
	for i, pc := range panicCalls() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.Call(ctx, pc.method, pc.args...)
		cancel()
		var pe *codec.PyError
		require.ErrorAs(t, err, &pe, "%s: %v", pc.method, err)
		require.Equal(t, "RuntimeError", pe.Class, "%s: %v", pc.method, err)
		require.Contains(t, pe.Error(), pc.want, pc.method)
		require.Equal(t, int64(i), call(t, c, "echo", int64(i)), "after %s", pc.method)
		panics++ // call_with_bomb's is the bomb's, in the nested call
	}
	// A callback that catches the bomb's exception: the server's call of
	// it succeeds.
	got := call(t, c, "call_with_bomb", func(ctx context.Context, bomb any) (any, error) {
		_, err := bomb.(*netref.Proxy).Call(ctx)
		var pe *codec.PyError
		if errors.As(err, &pe) && pe.Class == "RuntimeError" {
			return "caught " + pe.Class, nil
		}
		return nil, fmt.Errorf("bomb did not raise RuntimeError: %v", err)
	})
	require.Equal(t, "caught RuntimeError", got)
	return panics + 1
}

// panicScript is the Python client's part: every panicking method raises
// RuntimeError (the class rpyc builds for the builtin), the connection
// goes on.
const panicScript = `
import sys
import rpyc

host, port = sys.argv[1], int(sys.argv[2])
c = rpyc.connect(host, port, config={"sync_request_timeout": 30})
root = c.root

def expect(what, fn, *args):
    try:
        fn(*args)
    except RuntimeError as e:
        if what not in str(e):
            raise AssertionError("%s: %s" % (what, e))
    else:
        raise AssertionError("no exception: " + what)
    if root.echo("alive") != "alive":
        raise AssertionError("not alive after " + what)

expect("boom: an error value", root.panic_error)
expect("not an error", root.panic_value)
expect("index out of range", root.panic_runtime)
expect("boom: inside the client's callback", root.call_with_bomb, lambda bomb: bomb())
expect("after the callback returned cb", root.panic_after_callback, lambda: "cb")

def catching(bomb):
    try:
        bomb()
    except RuntimeError as e:
        return "caught " + type(e).__name__
    return "not raised"

got = root.call_with_bomb(catching)
if got != "caught RuntimeError":
    raise AssertionError(got)
c.close()
print("PANICS: OK")
`

// pythonPanicCount is the panics panicScript makes the server have.
const pythonPanicCount = 6

// pythonPanics runs panicScript against host:port.
func pythonPanics(t *testing.T, port string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "panics.py")
	require.NoError(t, os.WriteFile(path, []byte(panicScript), 0o600))
	out := runPython(t, time.Minute, path, "127.0.0.1", port)
	require.Contains(t, out, "PANICS: OK")
}

// methodPanicsLogged says whether a panic of a service method reaches the
// server's log: netref recovers it into the RuntimeError the peer gets and
// marks it (codec.PyError.Panic); the connection logs it once ("service
// panicked"). Each panic must then be logged exactly once.
const methodPanicsLogged = true

func requirePanicLogs(t *testing.T, sink *logSink, panics int) {
	t.Helper()
	n := sink.count("panic")
	t.Logf("%d panics, %d log lines about them", panics, n)
	if methodPanicsLogged {
		require.Equal(t, panics, n, "each panic logged once:\n%s", sink.String())
	} else {
		require.LessOrEqual(t, n, panics, "a panic logged more than once:\n%s", sink.String())
	}
}

// TestPanickingHandlers makes a service panic every way (an error, a
// value that is no error, a runtime error, inside a callback into the
// client, after one) on every policy and engine, called by the Go client
// and by the real Python client: each call is answered with RuntimeError,
// the connection and the server keep serving, a process-pool worker
// survives (same pid), and no panic is logged twice.
func TestPanickingHandlers(t *testing.T) {
	requirePython(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		for _, p := range benchPolicies { // bench_test.go
			t.Run(p.name+"/"+e, func(t *testing.T) {
				sink := &logSink{}
				srv := start(t, p.mk(panickySvc(), WithEngine(e), WithLogger(sink.logger())))
				c := dial(t, srv)
				panics := requirePanicsAnswered(t, c)
				pythonPanics(t, portOf(t, srv))
				panics += pythonPanicCount
				c2 := dial(t, srv)
				require.Equal(t, "after", call(t, c2, "echo", "after"))
				require.Equal(t, "still", call(t, c, "echo", "still"))
				requirePanicLogs(t, sink, panics)
			})
		}
		t.Run("oneshot/"+e, func(t *testing.T) {
			for _, py := range []bool{false, true} {
				sink := &logSink{}
				srv := NewOneShot(panickySvc(), WithEngine(e), WithLogger(sink.logger()))
				require.NoError(t, srv.Start())
				served := make(chan error, 1)
				go func() { served <- srv.Serve(context.Background()) }()
				panics := pythonPanicCount
				if py {
					pythonPanics(t, portOf(t, srv))
				} else {
					c := dial(t, srv)
					panics = requirePanicsAnswered(t, c)
					require.NoError(t, c.Close())
				}
				select {
				case err := <-served:
					require.NoError(t, err)
				case <-time.After(20 * time.Second):
					t.Fatal("the one-shot server did not stop after its connection")
				}
				requirePanicLogs(t, sink, panics)
			}
		})
		t.Run("process/"+e, func(t *testing.T) {
			srv := start(t, NewProcessPool(panickySvc(), WithEngine(e), WithWorkers(1), WithLogger(testLogger(t))))
			c := dial(t, srv)
			pid := call(t, c, "pid")
			require.NotEqual(t, int64(os.Getpid()), pid)
			requirePanicsAnswered(t, c)
			pythonPanics(t, portOf(t, srv))
			require.Equal(t, pid, call(t, c, "pid"), "the worker changed")
			c2 := dial(t, srv)
			require.Equal(t, pid, call(t, c2, "pid"))
			require.Equal(t, []int{int(pid.(int64))}, WorkerPIDs(srv))
		})
	}
}

// hookService panics in its connect or disconnect hook, as told.
type hookService struct{ mode *atomic.Int32 }

const (
	hookPanicNone = iota
	hookPanicConnect
	hookPanicDisconnect
)

func (h *hookService) Echo(x any) any { return x }

func (h *hookService) OnConnect(*conn.Conn) error {
	if h.mode.Load() == hookPanicConnect {
		panic("boom: on connect")
	}
	return nil
}

func (h *hookService) OnDisconnect(*conn.Conn) {
	if h.mode.Load() == hookPanicDisconnect {
		panic("boom: on disconnect")
	}
}

// TestPanickingConnectHooks makes a service's connect hook (and its
// factory) and its disconnect hook panic. conn runs them on goroutines of
// their own, where an unrecovered panic ends the process: the server
// recovers it, logs it once, refuses that connection (connect) and serves
// every other.
func TestPanickingConnectHooks(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			var mode atomic.Int32
			var factoryPanics atomic.Bool
			svc := services.PerConn(func(*conn.Conn) (*hookService, error) {
				if factoryPanics.Load() {
					panic("boom: in the factory")
				}
				return &hookService{mode: &mode}, nil
			}, services.WithName("HOOKS"))
			sink := &logSink{}
			srv := start(t, NewThreaded(svc, WithEngine(e), WithLogger(sink.logger())))
			rs := srv.(*reactorServer)
			good := dial(t, srv)
			require.Equal(t, "good", call(t, good, "echo", "good"))

			refused := func(what string) {
				t.Helper()
				c := dial(t, srv)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := c.Call(ctx, "echo", "refused")
				require.NoError(t, ctx.Err(), "%s: the refusal took the whole deadline", what)
				requireConnLost(t, c, err)
				require.Equal(t, 1, sink.count(`"panic":"`+what+`"`), "%s logged once:\n%s", what, sink.String())
			}
			mode.Store(hookPanicConnect)
			refused("boom: on connect")
			mode.Store(hookPanicNone)
			factoryPanics.Store(true)
			refused("boom: in the factory")
			factoryPanics.Store(false)

			mode.Store(hookPanicDisconnect)
			c := dial(t, srv)
			require.Equal(t, "bye", call(t, c, "echo", "bye"))
			require.NoError(t, c.Close())
			require.Eventually(t, func() bool { return sink.count(`"panic":"boom: on disconnect"`) == 1 }, 10*time.Second, 5*time.Millisecond,
				"the disconnect hook's panic was not logged once:\n%s", sink.String())
			mode.Store(hookPanicNone)

			require.Equal(t, "still", call(t, good, "echo", "still"))
			c = dial(t, srv)
			require.Equal(t, "new", call(t, c, "echo", "new"))
			require.NoError(t, c.Close())
			require.NoError(t, good.Close())
			require.Eventually(t, func() bool { return rs.nconns.Load() == 0 }, 10*time.Second, time.Millisecond,
				"connections left: %d", rs.nconns.Load())
		})
	}
}

// TestProcessPoolWorkerKilledMidCall extends TestProcessPool: two
// connections on each of two workers, calls in flight on both workers,
// one worker SIGKILLed. Both of its connections fail promptly with the
// typed dispatch.ErrClosed (not a timeout), the other worker's call in
// flight completes and its connections go on, the master counts the lost
// connections (its log and its live count), replaces the worker, and new
// connections are served, some by the replacement.
func TestProcessPoolWorkerKilledMidCall(t *testing.T) {
	sink := &logSink{}
	srv := start(t, NewProcessPool(svc(), WithWorkers(2), WithLogger(sink.logger())))
	ps := srv.(*processServer)
	byPid := map[int64][]*conn.Conn{}
	for range 4 {
		c := dial(t, srv)
		p := pidOf(t, c)
		byPid[p] = append(byPid[p], c)
	}
	require.Len(t, byPid, 2, "connections not on two workers")
	var victim, survivor int64
	for p, cs := range byPid {
		require.Len(t, cs, 2, "the least-loaded pick did not balance")
		if victim == 0 {
			victim = p
		} else {
			survivor = p
		}
	}
	require.Equal(t, 4, ps.liveConns())

	// Calls in flight: long sleeps on the victim's connections, a short one
	// on the survivor's. An echo behind each sleep proves the worker has
	// read it and started it (requests are dispatched in order).
	var doomed []*dispatch.AsyncResult
	for _, c := range byPid[victim] {
		r, err := callAsync(c, "sleep", 60.0)
		require.NoError(t, err)
		doomed = append(doomed, r)
		require.Equal(t, "sync", call(t, c, "echo", "sync"))
	}
	short, err := callAsync(byPid[survivor][0], "sleep", 1.0)
	require.NoError(t, err)
	require.Equal(t, "sync", call(t, byPid[survivor][0], "echo", "sync"))

	killed := time.Now()
	require.NoError(t, syscall.Kill(int(victim), syscall.SIGKILL))
	for i, r := range doomed {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := r.Result(ctx)
		cancel()
		require.ErrorIs(t, err, dispatch.ErrClosed, "call %d on the killed worker", i)
		var ce *dispatch.ClosedError
		require.ErrorAs(t, err, &ce)
		require.Less(t, time.Since(killed), 10*time.Second, "the killed worker's calls failed late")
		c := byPid[victim][i]
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the killed worker's connection did not end")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.Call(ctx, "echo", "dead")
		cancel()
		require.ErrorIs(t, err, dispatch.ErrClosed)
	}
	t.Logf("the killed worker's calls failed within %v", time.Since(killed))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := short.Result(ctx)
	require.NoError(t, err, "the other worker's call in flight")
	require.Equal(t, 1.0, v)
	for _, c := range byPid[survivor] {
		require.Equal(t, survivor, pidOf(t, c))
	}

	require.Eventually(t, func() bool {
		pids := WorkerPIDs(srv)
		return len(pids) == 2 && containsPID(pids, int(survivor)) && !containsPID(pids, int(victim))
	}, 20*time.Second, 10*time.Millisecond, "no replacement worker: %v", WorkerPIDs(srv))
	require.Equal(t, 2, ps.liveConns(), "the master still counts the lost connections")
	lost := fmt.Sprintf(`"pid":%d`, victim)
	require.Equal(t, 1, sink.count("worker process ended", lost, `"connections_lost":2`), "log:\n%s", sink.String())

	seen := map[int64]int{}
	for range 4 {
		c := dial(t, srv)
		p := pidOf(t, c)
		require.NotEqual(t, victim, p)
		seen[p]++
	}
	require.Len(t, seen, 2, "new connections not served by the replacement: %v", seen)
	for _, c := range byPid[survivor] {
		require.Equal(t, "alive", call(t, c, "echo", "alive"))
	}
}

// TestProcessPerConnectionWorkerKilled kills the worker of one connection
// of a process-per-connection pool mid-call: that call fails promptly and
// typed, the other connection's worker goes on, new connections get
// workers of their own.
func TestProcessPerConnectionWorkerKilled(t *testing.T) {
	srv := start(t, NewProcessPool(svc(), WithProcessPerConnection(true), WithLogger(testLogger(t))))
	c1, c2 := dial(t, srv), dial(t, srv)
	p1, p2 := pidOf(t, c1), pidOf(t, c2)
	require.NotEqual(t, p1, p2)
	r, err := callAsync(c1, "sleep", 60.0)
	require.NoError(t, err)
	require.Equal(t, "sync", call(t, c1, "echo", "sync"))
	killed := time.Now()
	require.NoError(t, syscall.Kill(int(p1), syscall.SIGKILL))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = r.Result(ctx)
	require.ErrorIs(t, err, dispatch.ErrClosed)
	require.Less(t, time.Since(killed), 10*time.Second)
	require.Equal(t, p2, pidOf(t, c2))
	require.Eventually(t, func() bool { return !containsPID(WorkerPIDs(srv), int(p1)) }, 20*time.Second, 10*time.Millisecond)
	c3 := dial(t, srv)
	p3 := pidOf(t, c3)
	require.NotEqual(t, p1, p3)
	require.NotEqual(t, p2, p3)
	require.Equal(t, "alive", call(t, c2, "echo", "alive"))
}

// killedWorkerScript connects, prints its worker's pid, and sleeps on the
// server until the test kills that worker: rpyc must raise at once.
const killedWorkerScript = `
import sys
import time

import rpyc

c = rpyc.connect(sys.argv[1], int(sys.argv[2]), config={"sync_request_timeout": 120})
print("PID", c.root.pid(), flush=True)
res = rpyc.async_(c.root.sleep)(60)
# Served after the worker has read the sleep (requests are dispatched in
# order): the sleep is in flight.
c.root.echo("sync")
print("SLEEPING", flush=True)
t0 = time.monotonic()
try:
    res.wait()
    res.value
except EOFError as e:
    print("LOST EOFError %.1f" % (time.monotonic() - t0), flush=True)
else:
    raise AssertionError("the sleep returned")
`

// TestProcessPoolWorkerKilledPython kills the worker of a Python client
// in the middle of its call: rpyc raises EOFError promptly (not at its
// sync timeout), and the Go client on the other worker goes on.
func TestProcessPoolWorkerKilledPython(t *testing.T) {
	requirePython(t)
	srv := start(t, NewProcessPool(svc(), WithWorkers(2), WithLogger(testLogger(t))))
	c := dial(t, srv)
	other := pidOf(t, c)

	path := filepath.Join(t.TempDir(), "killed_worker.py")
	require.NoError(t, os.WriteFile(path, []byte(killedWorkerScript), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pythonPath, "-u", path, "127.0.0.1", portOf(t, srv))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	stderr := &logSink{} // written by the command's goroutine
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), "no pid line: %s", stderr.String())
	var victim int
	_, err = fmt.Sscanf(sc.Text(), "PID %d", &victim)
	require.NoError(t, err, sc.Text())
	require.NotEqual(t, int(other), victim, "the Python client is on the Go client's worker")
	require.True(t, sc.Scan(), "no SLEEPING line: %s", stderr.String())
	require.Equal(t, "SLEEPING", sc.Text())
	killed := time.Now()
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, cmd.Wait(), "script: %v\n%s", out, stderr.String())
	require.Less(t, time.Since(killed), 20*time.Second)
	require.Len(t, out, 1, "%v\n%s", out, stderr.String())
	require.True(t, strings.HasPrefix(out[0], "LOST EOFError"), out[0])
	require.Equal(t, other, pidOf(t, c))
	require.Equal(t, "alive", call(t, c, "echo", "alive"))
}
