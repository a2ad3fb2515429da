package servers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestThreadPoolNestedDeeperThanPool nests callbacks (Python calls
// root.call(f), f calls root.call again...) deeper than the pool has
// workers, on several connections at once: nothing deadlocks.
func TestThreadPoolNestedDeeperThanPool(t *testing.T) {
	requirePython(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithWorkers(3), WithQueue(2), WithLogger(testLogger(t))))
			runPython(t, 2*time.Minute, serversScript, "nested", "127.0.0.1", portOf(t, srv), "10", "4")
			p := srv.(*reactorServer).pol.(*poolPolicy)
			require.Positive(t, p.overflowed.Load(), "no request overflowed the pool")
		})
	}
}

// TestThreadPoolSaturated keeps every worker of a small pool and its queue
// busy with sleeps from many connections: every call is answered (none
// dropped, no connection closed) and the loop keeps serving.
func TestThreadPoolSaturated(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithWorkers(2), WithQueue(2), WithLogger(testLogger(t))))
			const n = 12
			var wg sync.WaitGroup
			errs := make(chan error, n)
			t0 := time.Now()
			for range n {
				c := dial(t, srv)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					v, err := c.Call(ctx, "sleep", 0.2)
					if err == nil && v != 0.2 {
						err = context.Canceled
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			// 12 sleeps of 0.2 s on 2 workers take about 1.2 s.
			require.GreaterOrEqual(t, time.Since(t0), time.Second, "the pool did not bound concurrency")
			c := dial(t, srv)
			require.Equal(t, "still", call(t, c, "echo", "still"))
		})
	}
}
