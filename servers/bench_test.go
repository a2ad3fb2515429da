package servers

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// noCompress turns zlib off so that the 64 KiB echo measures the engines,
// not zlib (on both ends).
var noCompress = conn.Option(func(c *conn.Config) { c.Compress = false })

type benchPolicy struct {
	name string
	mk   func(conn.Service, ...Option) Server
}

var benchPolicies = []benchPolicy{{"threadpool", NewThreadPool}, {"threaded", NewThreaded}}

// BenchmarkEcho measures synchronous echo round trips (CALLATTR echo) per
// second and their p50/p99 latency, for every engine × policy (stdnet +
// threaded is the baseline), at 1, 16, 64 and 256 connections, with a
// small int and 64 KiB of bytes.
func BenchmarkEcho(b *testing.B) {
	big := make([]byte, 64<<10)
	_, _ = rand.Read(big)
	payloads := []struct {
		name string
		v    any
	}{{"int", int64(42)}, {"64KiB", big}}
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		for _, p := range benchPolicies {
			b.Run(e+"/"+p.name, func(b *testing.B) {
				srv := p.mk(svc(), WithEngine(e), WithProtocol(noCompress))
				require.NoError(b, srv.Start())
				defer func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = srv.Close(ctx)
				}()
				for _, pl := range payloads {
					for _, n := range []int{1, 16, 64, 256} {
						b.Run(fmt.Sprintf("%s/conns=%d", pl.name, n), func(b *testing.B) {
							benchEcho(b, srv, n, pl.v)
						})
					}
				}
			})
		}
	}
}

func benchEcho(b *testing.B, srv Server, nconns int, v any) {
	ctx := context.Background()
	roots := make([]*netref.Proxy, nconns)
	for i := range roots {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := conn.Dial(dctx, "tcp", srv.Addr().String(), noCompress)
		cancel()
		require.NoError(b, err)
		defer c.Close()
		roots[i], err = c.Root(ctx)
		require.NoError(b, err)
		_, err = roots[i].CallMethod(ctx, "echo", v) // warm up
		require.NoError(b, err)
	}
	b.ReportAllocs()
	var next atomic.Int64
	lat := make([][]time.Duration, nconns)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	b.ResetTimer()
	t0 := time.Now()
	for i := range nconns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				s := time.Now()
				if _, err := roots[i].CallMethod(ctx, "echo", v); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = append(lat[i], time.Since(s))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rt/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// envHoldConns makes the test binary a client process that opens the
// given number of idle connections to envHoldAddr, prints "ready" and
// waits for its stdin to close.
const (
	envHoldConns = "RPYCGO_SERVERS_TEST_HOLD_CONNS"
	envHoldAddr  = "RPYCGO_SERVERS_TEST_HOLD_ADDR"
)

// holdConnsIfChild runs the idle-client child process.
func holdConnsIfChild() {
	n, err := strconv.Atoi(os.Getenv(envHoldConns))
	if err != nil || n <= 0 {
		return
	}
	addr := os.Getenv(envHoldAddr)
	conns := make([]net.Conn, 0, n)
	for range n {
		var nc net.Conn
		for try := 0; ; try++ {
			nc, err = net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil || try == 20 {
				break
			}
			time.Sleep(50 * time.Millisecond) // accept backlog full: retry
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		conns = append(conns, nc)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// BenchmarkIdleMemory measures the server's memory per idle connection at
// 10,000 idle connections, held by a client child process (one process
// may open 20,000 descriptors here: 10,000 connections need 20,000 in
// one process with both ends). heap-B/conn is the Go heap in use,
// stack-B/conn the goroutine stacks (stdnet parks two per connection).
func BenchmarkIdleMemory(b *testing.B) {
	const n = 10000
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		b.Run(e, func(b *testing.B) {
			for range b.N {
				heap, stack := idleMemory(b, e, n)
				b.ReportMetric(heap, "heap-B/conn")
				b.ReportMetric(stack, "stack-B/conn")
			}
		})
	}
}

func memNow() runtime.MemStats {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms
}

func idleMemory(b *testing.B, engine string, n int) (heapPerConn, stackPerConn float64) {
	srv := NewThreadPool(svc(), WithEngine(engine), WithBacklog(4096))
	require.NoError(b, srv.Start())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	}()
	before := memNow()
	exe, err := os.Executable()
	require.NoError(b, err)
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envHoldConns+"="+strconv.Itoa(n), envHoldAddr+"="+srv.Addr().String())
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(b, err)
	require.Equal(b, "ready", strings.TrimSpace(line))
	rs := srv.(*reactorServer)
	require.Eventually(b, func() bool { return rs.nconns.Load() == int64(n) }, time.Minute, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // attach goroutines end
	after := memNow()
	heapPerConn = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	stackPerConn = float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	return heapPerConn, stackPerConn
}
