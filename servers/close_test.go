package servers

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClose lets an in-flight call finish, then closes every connection,
// and returns only when everything the server started has ended (the
// goroutine count is back where it was), on every engine and policy.
func TestClose(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		for name, mk := range map[string]func() Server{
			"threadpool": func() Server { return NewThreadPool(svc(), WithEngine(e), WithWorkers(4)) },
			"threaded":   func() Server { return NewThreaded(svc(), WithEngine(e)) },
		} {
			t.Run(name+"/"+e, func(t *testing.T) {
				g0 := runtime.NumGoroutine()
				srv := mk()
				require.NoError(t, srv.Start())
				c := dial(t, srv)
				idle := dial(t, srv)
				call(t, idle, "echo", 1)
				r, err := callAsync(c, "sleep", 0.4)
				require.NoError(t, err)
				time.Sleep(50 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				t0 := time.Now()
				require.NoError(t, srv.Close(ctx))
				require.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond, "Close did not wait for the call")
				v, err := r.Result(ctx) // the reply was sent before the close
				require.NoError(t, err)
				require.Equal(t, 0.4, v)
				select {
				case <-idle.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("idle client connection not closed")
				}
				<-c.Done()
				require.Eventually(t, func() bool { return runtime.NumGoroutine() <= g0+2 }, 5*time.Second, 10*time.Millisecond,
					"goroutines left: %d (before %d)", runtime.NumGoroutine(), g0)
				require.NoError(t, srv.Close(ctx), "second Close")
				require.ErrorIs(t, srv.Start(), ErrServerClosed)
			})
		}
	}
}

// TestCloseDeadline cuts a call that outlives Close's context.
func TestCloseDeadline(t *testing.T) {
	srv := NewThreadPool(svc())
	require.NoError(t, srv.Start())
	c := dial(t, srv)
	r, err := callAsync(c, "sleep", 30.0)
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = srv.Close(ctx)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.Less(t, time.Since(t0), 5*time.Second)
	_, err = r.Result(context.Background())
	require.Error(t, err)
}
