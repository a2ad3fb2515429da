package servers

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/reactor"
)

// matrixCycles is the connect/call/close cycles of each cell of
// TestLeakMatrix: 2,000 (400 under the race detector, from leakCycles).
const matrixCycles = leakCycles / 5

// oneShotServers is how many one-shot servers (one cycle each) a one-shot
// cell starts and lets stop.
const oneShotServers = matrixCycles / 20

// Tolerances of the matrix: what a warm server may hold on top of its
// baseline after the cycles.
const (
	slackFDs        = 2
	slackGoroutines = 2
	slackHeap       = 2 << 20
)

// leakCycle dials addr, echoes, makes the server create an object
// (Counter) and closes.
func leakCycle(a net.Addr, i int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, a.Network(), a.String())
	if err != nil {
		return err
	}
	local := nc.LocalAddr() // names the connection in the server's log
	c, err := conn.NewNetConn(nc, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	// fail names the step and why the connection ended, if it did.
	fail := func(step string, err error) error {
		select {
		case <-c.Done():
		case <-time.After(time.Second):
		}
		return fmt.Errorf("cycle %d (from %v), %s: %w (the connection ended with: %v)", i, local, step, err, c.Err())
	}
	v, err := c.Call(ctx, "echo", i)
	if err != nil {
		return fail("echo", err)
	}
	if v != i {
		return fmt.Errorf("echo %d returned %v", i, v)
	}
	if err := newCounter(ctx, c); err != nil {
		return fail("counter", err)
	}
	return nil
}

// runCycles runs n cycles from four clients at once and returns the first
// error.
func runCycles(srv Server, n int64) error {
	a := srv.Addr()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				if err := leakCycle(a, i); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					next.Store(n) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// baseline is what a process holds at one moment.
type baseline struct {
	fds, goroutines int
	heap            uint64
}

func takeBaseline(t *testing.T) baseline {
	t.Helper()
	return baseline{fds: openFDs(t), goroutines: runtime.NumGoroutine(), heap: heapInUse()}
}

// requireBackTo waits until descriptors and goroutines are back to b (with
// the slack), then checks the heap.
func requireBackTo(t *testing.T, b baseline, what string) {
	t.Helper()
	require.Eventually(t, func() bool { return openFDs(t) <= b.fds+slackFDs }, 20*time.Second, 10*time.Millisecond,
		"%s: descriptors %d, baseline %d", what, openFDs(t), b.fds)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= b.goroutines+slackGoroutines }, 20*time.Second, 10*time.Millisecond,
		"%s: goroutines %d, baseline %d", what, runtime.NumGoroutine(), b.goroutines)
	// The heap may take a moment to come back: memory released by runtime
	// cleanups (a proxy's DEL) and by timers is freed a cycle later. A
	// leak never comes back.
	heap := heapInUse()
	deadline := time.Now().Add(5 * time.Second)
	for int64(heap)-int64(b.heap) >= slackHeap && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		heap = heapInUse()
	}
	t.Logf("%s: heap %d KiB (baseline %d KiB), descriptors %d (%d), goroutines %d (%d)",
		what, heap>>10, b.heap>>10, openFDs(t), b.fds, runtime.NumGoroutine(), b.goroutines)
	require.Less(t, int64(heap)-int64(b.heap), int64(slackHeap), "%s: heap grew by %d KiB", what, (int64(heap)-int64(b.heap))>>10)
}

// warmNetpoll starts netpoll's process-wide pollers, which outlive every
// engine, before goroutines are counted: netpoll starts them with the
// first connection, so a server serves a few.
func warmNetpoll(t *testing.T) {
	t.Helper()
	srv := NewThreadPool(svc(), WithEngine(reactor.EngineNetpoll), WithLogger(testLogger(t)))
	require.NoError(t, srv.Start())
	require.NoError(t, runCycles(srv, 4))
	closeServer(t, srv)
}

// closeServer closes srv within a bound.
func closeServer(t *testing.T, srv Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, srv.Close(ctx))
}

// TestLeakMatrix runs matrixCycles connect/call/close cycles (each taking
// a server object) on every engine and in-process policy (thread pool,
// threaded), and starts oneShotServers one-shot servers of one cycle each.
// After the cycles the running server holds no connection and no object,
// and descriptors, goroutines and heap are back to the warm server's
// baseline; once the server is closed goleak finds no goroutine of it.
// TestConnectCallCloseCycles is the long run of the default cell.
//
// Under the race detector the netpoll cells are left out (see
// netpollChurnTested); `make test` runs them in a build without it.
func TestLeakMatrix(t *testing.T) {
	warmNetpoll(t)
	engines := []string{"gnet", "netpoll", "stdnet"}
	if !netpollChurnTested {
		engines = []string{"gnet", "stdnet"}
	}
	for _, e := range engines {
		for _, p := range benchPolicies { // bench_test.go
			t.Run(p.name+"/"+e, func(t *testing.T) {
				ignore := goleak.IgnoreCurrent()
				srv := p.mk(svc(), WithEngine(e), WithLogger(testLogger(t)))
				start(t, srv) // closed at the end, and by the cleanup if the test stops early (Close is idempotent)
				rs := srv.(*reactorServer)
				require.NoError(t, runCycles(srv, 20)) // warm up pools and buffers
				require.Eventually(t, func() bool { return rs.nconns.Load() == 0 }, 20*time.Second, time.Millisecond)
				base := takeBaseline(t)

				start := time.Now()
				require.NoError(t, runCycles(srv, matrixCycles))
				t.Logf("%d cycles in %v", matrixCycles, time.Since(start))
				require.Eventually(t, func() bool {
					objs, n := heldObjects(rs)
					return n == 0 && objs == 0 && rs.nconns.Load() == 0
				}, 20*time.Second, time.Millisecond, "connections or objects left on the server: %d connections", rs.nconns.Load())
				requireBackTo(t, base, "server running")

				closeServer(t, srv)
				goleak.VerifyNone(t, ignore)
			})
		}
		t.Run("oneshot/"+e, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			one := func(i int64) {
				srv := NewOneShot(svc(), WithEngine(e), WithLogger(testLogger(t)))
				require.NoError(t, srv.Start())
				served := make(chan error, 1)
				go func() { served <- srv.Serve(context.Background()) }()
				require.NoError(t, leakCycle(srv.Addr(), i))
				select {
				case err := <-served:
					require.NoError(t, err)
				case <-time.After(20 * time.Second):
					t.Fatal("the one-shot server did not stop after its connection")
				}
			}
			one(0)
			base := takeBaseline(t)
			start := time.Now()
			for i := range int64(oneShotServers) {
				one(i + 1)
			}
			t.Logf("%d one-shot servers in %v", oneShotServers, time.Since(start))
			requireBackTo(t, base, "one-shot servers stopped")
			goleak.VerifyNone(t, ignore)
		})
	}
}

// procFDs counts the open descriptors of process pid.
func procFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(ents)
}

// TestLeakMatrixProcessPool runs matrixCycles cycles against a process
// pool: the master (this process) counts no live connection afterwards
// and is back to its baseline of descriptors, goroutines and heap; the
// workers are back to their baseline of descriptors; once closed, goleak
// finds nothing of the master's.
func TestLeakMatrixProcessPool(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv := NewProcessPool(svc(), WithEngine("gnet"), WithWorkers(2), WithLogger(testLogger(t)))
	start(t, srv) // closed at the end, and by the cleanup if the test stops early (Close is idempotent)
	ps := srv.(*processServer)
	require.NoError(t, runCycles(srv, 20))
	require.Eventually(t, func() bool { return ps.liveConns() == 0 }, 20*time.Second, time.Millisecond)
	pids := WorkerPIDs(srv)
	require.Len(t, pids, 2)
	workerFDs := map[int]int{}
	for _, p := range pids {
		workerFDs[p] = procFDs(t, p)
	}
	base := takeBaseline(t)

	start := time.Now()
	require.NoError(t, runCycles(srv, matrixCycles))
	t.Logf("%d cycles in %v", matrixCycles, time.Since(start))
	require.Eventually(t, func() bool { return ps.liveConns() == 0 }, 20*time.Second, time.Millisecond,
		"the master counts %d live connections", ps.liveConns())
	require.ElementsMatch(t, pids, WorkerPIDs(srv), "a worker was replaced")
	for p, n := range workerFDs {
		require.Eventually(t, func() bool { return procFDs(t, p) <= n+slackFDs }, 20*time.Second, 10*time.Millisecond,
			"worker %d: descriptors %d, baseline %d", p, procFDs(t, p), n)
	}
	requireBackTo(t, base, "master")

	closeServer(t, srv)
	goleak.VerifyNone(t, ignore)
}
