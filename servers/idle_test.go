package servers

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdIdle opens n connections to srv that send nothing, and waits until
// the server serves them all.
func holdIdle(t *testing.T, srv Server, n int) []net.Conn {
	t.Helper()
	rs := srv.(*reactorServer)
	before := rs.nconns.Load()
	conns := make([]net.Conn, 0, n)
	for range n {
		nc, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		conns = append(conns, nc)
	}
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	require.Eventually(t, func() bool { return rs.nconns.Load() == before+int64(n) }, 20*time.Second, 10*time.Millisecond,
		"server holds %d of %d connections", rs.nconns.Load()-before, n)
	return conns
}

// settledGoroutines is the goroutine count once the short-lived ones
// (attach of new connections) have ended.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

// TestIdleConnections holds 2,000 idle client connections on gnet and
// netpoll: a call is still answered, and the goroutine count does not grow
// with the idle connections (no goroutine is parked per connection).
func TestIdleConnections(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e)))
			c := dial(t, srv)
			require.Equal(t, int64(1), call(t, c, "echo", int64(1)))
			g0 := settledGoroutines()
			holdIdle(t, srv, 1000)
			g1 := settledGoroutines()
			holdIdle(t, srv, 1000)
			g2 := settledGoroutines()
			t.Logf("%s goroutines: %d idle: %d, 1000: %d, 2000: %d", e, 0, g0, g1, g2)
			require.Less(t, g1-g0, 50, "goroutines grew with 1000 idle connections")
			require.Less(t, g2-g1, 50, "goroutines grew with 1000 more idle connections")
			require.Equal(t, "still", call(t, c, "echo", "still"))
			c2 := dial(t, srv)
			require.Equal(t, "new", call(t, c2, "echo", "new"))
		})
	}
}

// TestIdleTimeout closes connections idle for longer than the timeout and
// keeps busy ones.
func TestIdleTimeout(t *testing.T) {
	srv := start(t, NewThreaded(svc(), WithIdleTimeout(300*time.Millisecond)))
	idle := holdIdle(t, srv, 1)[0]
	c := dial(t, srv)
	r, err := callAsync(c, "sleep", 0.8)
	require.NoError(t, err)
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(idle) // the server's CLOSE request, then EOF
	require.NoError(t, err, "idle connection not closed")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := r.Result(ctx)
	require.NoError(t, err, "a busy connection was closed")
	require.Equal(t, 0.8, v)
}

// TestMaxConns refuses connections past the limit.
func TestMaxConns(t *testing.T) {
	srv := start(t, NewThreadPool(svc(), WithMaxConns(2)))
	c1, c2 := dial(t, srv), dial(t, srv)
	call(t, c1, "echo", 1)
	call(t, c2, "echo", 1)
	nc, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = nc.Read(make([]byte, 1))
	require.Error(t, err, "third connection served")
	require.NoError(t, c1.Close())
	require.Eventually(t, func() bool { return srv.(*reactorServer).nconns.Load() < 2 }, 5*time.Second, 10*time.Millisecond)
	c3 := dial(t, srv)
	call(t, c3, "echo", 1)
}
