package servers

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// heldObjects sums the objects the server's connections hold for their
// peers, and counts the connections.
func heldObjects(rs *reactorServer) (objects, sessions int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for se := range rs.sessions {
		if se.c.Load() != nil {
			objects += se.c.Load().HeldObjects()
		}
	}
	return objects, len(rs.sessions)
}

// newCounter makes the server create a Counter for c (root.Counter().incr()).
func newCounter(ctx context.Context, c *conn.Conn) error {
	root, err := c.Root(ctx)
	if err != nil {
		return err
	}
	cls, err := root.GetAttr(ctx, "Counter")
	if err != nil {
		return err
	}
	ctr, err := cls.(*netref.Proxy).Call(ctx)
	if err != nil {
		return err
	}
	_, err = ctr.(*netref.Proxy).CallMethod(ctx, "incr")
	return err
}

// TestConnectCallCloseCycles runs leakCycles connect/call/close cycles
// (each also takes a server object: a Counter) from a few clients at once
// against a thread-pool server on gnet. Afterwards the server holds no
// connection and no object, descriptors and heap are back near their
// baseline, and once the server is closed no goroutine is left.
func TestConnectCallCloseCycles(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	fd0 := openFDs(t)
	heap0 := heapInUse()

	srv := NewThreadPool(svc(), WithEngine("gnet"), WithLogger(testLogger(t)))
	require.NoError(t, srv.Start())
	rs := srv.(*reactorServer)
	closed := false
	defer func() {
		if !closed {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		}
	}()
	a := srv.Addr()

	cycle := func(i int64) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := conn.Dial(ctx, a.Network(), a.String())
		if err != nil {
			return err
		}
		defer c.Close()
		v, err := c.Call(ctx, "echo", i)
		if err != nil {
			return err
		}
		require.Equal(t, i, v)
		return newCounter(ctx, c)
	}

	// Warm up (pools, buffers), then take the running server's baseline.
	for i := range int64(20) {
		require.NoError(t, cycle(i))
	}
	require.Eventually(t, func() bool { _, n := heldObjects(rs); return n == 0 }, 10*time.Second, time.Millisecond)
	fd1 := openFDs(t)

	const clients = 4
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		cycErr error
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > leakCycles {
					return
				}
				if err := cycle(i); err != nil {
					errMu.Lock()
					cycErr = err
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, cycErr)
	t.Logf("%d cycles in %v", leakCycles, time.Since(start))

	// A live connection holds its objects; they go with it.
	c := dial(t, srv)
	require.NoError(t, newCounter(context.Background(), c))
	objs, _ := heldObjects(rs)
	require.Positive(t, objs)
	require.NoError(t, c.Close())

	require.Eventually(t, func() bool {
		objs, n := heldObjects(rs)
		return n == 0 && objs == 0 && rs.nconns.Load() == 0
	}, 10*time.Second, time.Millisecond, "connections or objects left on the server")
	require.Eventually(t, func() bool { return openFDs(t) <= fd1+2 }, 10*time.Second, 10*time.Millisecond,
		"descriptors: %d with the server warm, %d after the cycles", fd1, openFDs(t))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.Close(ctx))
	closed = true
	require.Eventually(t, func() bool { return openFDs(t) <= fd0+2 }, 10*time.Second, 10*time.Millisecond,
		"descriptors: %d before the server, %d after it closed", fd0, openFDs(t))
	heap1 := heapInUse()
	t.Logf("heap: %d KiB before, %d KiB after; descriptors %d, %d", heap0>>10, heap1>>10, fd0, openFDs(t))
	require.Less(t, int64(heap1)-int64(heap0), int64(8<<20), "heap grew by %d KiB", (int64(heap1)-int64(heap0))>>10)
	goleak.VerifyNone(t, ignore)
}
