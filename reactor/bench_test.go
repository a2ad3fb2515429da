//go:build linux

package reactor_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rpycgo/rpycgo/reactor"
)

// BenchmarkEcho measures echo round trips through a server on each engine:
// conns standard-library clients each send a frame and wait for its echo,
// b.N round trips in all. ns/op is the time per round trip across all
// connections; allocations count both sides.
func BenchmarkEcho(b *testing.B) {
	sizes := []struct {
		name string
		n    int
	}{{"small", 32}, {"64KiB", 64 << 10}}
	for _, name := range engineNames {
		for _, conns := range []int{1, 64} {
			for _, size := range sizes {
				b.Run(fmt.Sprintf("%s/%d/%s", name, conns, size.name), func(b *testing.B) {
					benchEcho(b, name, conns, size.n)
				})
			}
		}
	}
}

func benchEcho(b *testing.B, name string, conns, size int) {
	e := newEngine(b, name, reactor.Config{})
	ln, err := e.Listen("tcp4", "127.0.0.1:0", echo{})
	if err != nil {
		b.Fatal(err)
	}
	clients := make([]net.Conn, conns)
	for i := range clients {
		if clients[i], err = net.Dial("tcp4", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	frame := appendFrame(nil, make([]byte, size))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()

	var next atomic.Int64
	var wg sync.WaitGroup
	for _, nc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]byte, len(frame))
			for next.Add(1) <= int64(b.N) {
				if _, err := nc.Write(frame); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(nc, got); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}
