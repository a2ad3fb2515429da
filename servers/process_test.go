package servers

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

func pidOf(t *testing.T, c *conn.Conn) int64 {
	t.Helper()
	v, ok := call(t, c, "pid").(int64)
	require.True(t, ok)
	return v
}

// TestProcessPool checks pid() and connection_id() across workers, then
// kills a worker in the middle of a call: only its connections break, the
// master replaces it, and the next connections are served.
func TestProcessPool(t *testing.T) {
	srv := start(t, NewProcessPool(svc(), WithWorkers(2), WithLogger(testLogger(t))))
	c1, c2 := dial(t, srv), dial(t, srv)
	p1, p2 := pidOf(t, c1), pidOf(t, c2)
	require.NotEqual(t, p1, p2, "two connections on one worker")
	me := int64(os.Getpid())
	require.NotEqual(t, me, p1)
	require.NotEqual(t, me, p2)
	require.ElementsMatch(t, []int{int(p1), int(p2)}, WorkerPIDs(srv))
	id1, id2 := call(t, c1, "connection_id"), call(t, c2, "connection_id")
	require.NotEqual(t, id1, id2)

	// Kill c1's worker while c1 sleeps.
	sleeping := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c1.Call(ctx, "sleep", 10.0)
		sleeping <- err
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, syscall.Kill(int(p1), syscall.SIGKILL))
	select {
	case err := <-sleeping:
		require.Error(t, err, "the killed worker's call returned")
	case <-time.After(10 * time.Second):
		t.Fatal("the killed worker's connection did not break")
	}
	// The other worker's connection goes on.
	require.Equal(t, "alive", call(t, c2, "echo", "alive"))
	require.Equal(t, p2, pidOf(t, c2))
	// A replacement worker appears and new connections are served.
	require.Eventually(t, func() bool {
		pids := WorkerPIDs(srv)
		return len(pids) == 2 && !containsPID(pids, int(p1))
	}, 10*time.Second, 20*time.Millisecond)
	seen := map[int64]bool{}
	for range 4 {
		c := dial(t, srv)
		p := pidOf(t, c)
		require.NotEqual(t, p1, p)
		seen[p] = true
		id := call(t, c, "connection_id")
		require.NotEqual(t, id1, id)
		require.NotEqual(t, id2, id)
	}
	require.Len(t, seen, 2, "connections not spread over both workers")
}

func containsPID(pids []int, p int) bool {
	for _, x := range pids {
		if x == p {
			return true
		}
	}
	return false
}

// TestProcessPerConnection gives every connection a worker of its own,
// which exits (and is reaped) when the connection closes.
func TestProcessPerConnection(t *testing.T) {
	srv := start(t, NewProcessPool(svc(), WithProcessPerConnection(true), WithEngine("stdnet"), WithLogger(testLogger(t))))
	c1, c2 := dial(t, srv), dial(t, srv)
	p1, p2 := pidOf(t, c1), pidOf(t, c2)
	require.NotEqual(t, p1, p2)
	require.NoError(t, c1.Close())
	require.Eventually(t, func() bool { return syscall.Kill(int(p1), 0) != nil }, 10*time.Second, 20*time.Millisecond,
		"the worker of a closed connection did not exit")
	require.Equal(t, p2, pidOf(t, c2))
}

// TestProcessPoolClose lets an in-flight call finish, then stops and reaps
// every worker.
func TestProcessPoolClose(t *testing.T) {
	srv := NewProcessPool(svc(), WithWorkers(2), WithLogger(testLogger(t)))
	require.NoError(t, srv.Start())
	c := dial(t, srv)
	pid := pidOf(t, c)
	r, err := callAsync(c, "sleep", 0.5)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.Close(ctx))
	v, err := r.Result(ctx)
	require.NoError(t, err)
	require.Equal(t, 0.5, v)
	require.Error(t, syscall.Kill(int(pid), 0), "worker still running after Close")
	require.Empty(t, WorkerPIDs(srv))
}
