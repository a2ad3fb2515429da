package services_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// Benchmarks: a Go client calling the Go CONFORMANCE server over loopback
// TCP, synchronous round trips (CALLATTR echo). Each reports the p50 and
// p99 latency of one call and the round trips per second, besides the
// usual ns/op (which, with many connections, is wall time / calls). The
// 64 KiB payload is random, so zlib (on above 3000 bytes, as in Python)
// works hard for nothing on both sides; conns=1-nozlib shows its cost.

func BenchmarkEchoSmallInt(b *testing.B) {
	for _, conns := range []int{1, 64} {
		b.Run(connsName(conns), func(b *testing.B) { benchEcho(b, conns, int64(42)) })
	}
}

func BenchmarkEcho64KiB(b *testing.B) {
	payload := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	for _, conns := range []int{1, 64} {
		b.Run(connsName(conns), func(b *testing.B) { benchEcho(b, conns, payload) })
	}
	// The same without zlib on either side: what compression costs.
	noZlib := conn.DefaultConfig()
	noZlib.Compress = false
	b.Run("conns=1-nozlib", func(b *testing.B) { benchEcho(b, 1, payload, conn.WithConfig(noZlib)) })
}

func connsName(n int) string {
	if n == 1 {
		return "conns=1"
	}
	return "conns=64"
}

func benchEcho(b *testing.B, conns int, arg any, opts ...conn.Option) {
	addr := serveTCP(b, services.Conformance(), opts...)
	ctx := context.Background()
	roots := make([]*netref.Proxy, conns)
	for i := range roots {
		c, err := conn.Dial(ctx, "tcp", addr, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if roots[i], err = c.Root(ctx); err != nil {
			b.Fatal(err)
		}
		// Warm up the connection (buffers, method tables).
		if _, err := roots[i].CallMethod(ctx, "echo", arg); err != nil {
			b.Fatal(err)
		}
	}

	lat := make([][]time.Duration, conns)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			root := roots[g]
			mine := make([]time.Duration, 0, b.N/conns+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				v, err := root.CallMethod(ctx, "echo", arg)
				d := time.Since(t0)
				if err != nil {
					failed.Store(err)
					return
				}
				if p, ok := arg.([]byte); ok && !bytes.Equal(p, v.([]byte)) {
					failed.Store(errMismatch)
					return
				}
				mine = append(mine, d)
			}
			lat[g] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "rt/s")
}

var errMismatch = errorString("echo returned other bytes")

type errorString string

func (e errorString) Error() string { return string(e) }
