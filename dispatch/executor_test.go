package dispatch

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	_ Executor = Inline{}
	_ Executor = Goroutines{}
	_ Executor = (*Pool)(nil)
	_ Executor = (*Serial)(nil)
)

func TestInline(t *testing.T) {
	ran := false
	Inline{}.Execute(func() { ran = true })
	require.True(t, ran, "ran before Execute returned")

	var got any
	e := Inline{OnPanic: func(p any) { got = p }}
	require.NotPanics(t, func() { e.Execute(func() { panic("boom") }) })
	require.Equal(t, "boom", got)
	require.NotPanics(t, func() { Inline{}.Execute(func() { panic("ignored") }) })
}

func TestGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	done := make(chan struct{})
	Goroutines{}.Execute(func() { close(done) })
	recv(t, done, "task")

	panics := make(chan any, 1)
	Goroutines{OnPanic: func(p any) { panics <- p }}.Execute(func() { panic("boom") })
	require.Equal(t, "boom", recv(t, panics, "panic report"))
	Goroutines{}.Execute(func() { panic("ignored") }) // must not crash the test binary
	requireGoroutines(t, base)
}

func TestPoolRunsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	p := NewPool(4, 8)
	const n = 10000
	var count atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				p.Execute(func() { count.Add(1) })
			}
		})
	}
	wg.Wait()
	p.Close()
	require.Equal(t, int64(n), count.Load(), "Close let every queued task finish")
	requireGoroutines(t, base)
}

func TestPoolBackPressure(t *testing.T) {
	base := runtime.NumGoroutine()
	p := NewPool(1, 1)
	release := make(chan struct{})
	started := make(chan struct{})
	p.Execute(func() { close(started); <-release }) // occupies the worker
	recv(t, started, "first task")
	ranB := make(chan struct{})
	p.Execute(func() { close(ranB) }) // fills the queue; returns at once

	returned := make(chan struct{})
	ranC := make(chan struct{})
	go func() {
		p.Execute(func() { close(ranC) }) // queue full: blocks
		close(returned)
	}()
	requireBlocked(t, returned, "Execute on a full queue")

	close(release) // the worker frees up, takes B, C gets its slot
	recv(t, returned, "Execute after a worker freed")
	recv(t, ranB, "B")
	recv(t, ranC, "C")
	p.Close()
	requireGoroutines(t, base)
}

func TestPoolCloseWaits(t *testing.T) {
	base := runtime.NumGoroutine()
	p := NewPool(2, 10)
	gate := make(chan struct{})
	var count atomic.Int64
	for range 12 { // 2 running, 10 queued
		p.Execute(func() { <-gate; count.Add(1) })
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	requireBlocked(t, closed, "Close with tasks still queued")
	close(gate)
	recv(t, closed, "Close")
	require.Equal(t, int64(12), count.Load())
	p.Close() // again: returns at once

	// After Close a task still runs, on its own goroutine.
	ran := make(chan struct{})
	p.Execute(func() { close(ran) })
	recv(t, ran, "task after Close")
	requireGoroutines(t, base)
}

func TestPoolCloseWithBlockedExecute(t *testing.T) {
	base := runtime.NumGoroutine()
	p := NewPool(1, 0)
	release := make(chan struct{})
	started := make(chan struct{})
	p.Execute(func() { close(started); <-release })
	recv(t, started, "first task")

	ranB := make(chan struct{})
	submitted := make(chan struct{})
	go func() { p.Execute(func() { close(ranB) }); close(submitted) }()
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	requireBlocked(t, closed, "Close while a worker is busy")

	close(release)
	recv(t, submitted, "blocked Execute")
	recv(t, ranB, "the task that was being queued")
	recv(t, closed, "Close")
	requireGoroutines(t, base)
}

func TestPoolPanic(t *testing.T) {
	base := runtime.NumGoroutine()
	p := NewPool(1, 4)
	panics := make(chan any, 2)
	p.OnPanic = func(v any) { panics <- v }
	p.Execute(func() { panic("one") })
	p.Execute(func() { panic("two") })
	ran := make(chan struct{})
	p.Execute(func() { close(ran) })
	recv(t, ran, "a task after two panics on the only worker")
	require.Equal(t, "one", recv(t, panics, "first panic"))
	require.Equal(t, "two", recv(t, panics, "second panic"))
	p.Close()

	p = NewPool(0, -1) // defaults: GOMAXPROCS workers, unbuffered
	p.Execute(func() { panic("ignored") })
	p.Close()
	requireGoroutines(t, base)
}

// TestSerialOrder submits from many goroutines; the order is the order in
// which Execute was called (fixed here by a lock around it), and no two
// tasks ever overlap.
func TestSerialOrder(t *testing.T) {
	base := runtime.NumGoroutine()
	pool := NewPool(8, 16)
	for _, tc := range []struct {
		name string
		exec Executor
	}{
		{"pool", pool},
		{"goroutines", Goroutines{}},
		{"inline", Inline{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSerial(tc.exec)
			const submitters, each = 8, 2000
			var (
				submitMu sync.Mutex
				next     int
				ran      []int // written only by tasks: Serial orders them
				active   atomic.Int32
				overlap  atomic.Bool
			)
			all := make(chan struct{})
			var wg sync.WaitGroup
			for range submitters {
				wg.Go(func() {
					for range each {
						submitMu.Lock()
						k := next
						next++
						s.Execute(func() {
							if active.Add(1) != 1 {
								overlap.Store(true)
							}
							ran = append(ran, k)
							if len(ran) == submitters*each {
								close(all)
							}
							active.Add(-1)
						})
						submitMu.Unlock()
					}
				})
			}
			wg.Wait()
			recv(t, all, "all tasks")
			require.False(t, overlap.Load(), "tasks overlapped")
			for i, k := range ran {
				if k != i {
					require.Equal(t, i, k, "task %d ran out of order", i)
				}
			}
			require.Zero(t, s.Len())
		})
	}
	pool.Close()
	requireGoroutines(t, base) // an idle Serial parks no goroutine
}

func TestSerialPanicAndReuse(t *testing.T) {
	base := runtime.NumGoroutine()
	s := NewSerial(nil)
	panics := make(chan any, 1)
	s.OnPanic = func(p any) { panics <- p }
	var order []int
	done := make(chan struct{})
	s.Execute(func() { order = append(order, 1) })
	s.Execute(func() { panic("boom") })
	s.Execute(func() { order = append(order, 3); close(done) })
	recv(t, done, "task after a panic")
	require.Equal(t, "boom", recv(t, panics, "panic report"))
	requireGoroutines(t, base)

	// Idle, then used again: a new drainer starts.
	done = make(chan struct{})
	s.Execute(func() { order = append(order, 4); close(done) })
	recv(t, done, "task after idling")
	require.Equal(t, []int{1, 3, 4}, order)
	requireGoroutines(t, base)
}

func TestSerialNested(t *testing.T) {
	// A task that submits to its own Serial queues behind itself, even
	// with Inline underneath (no recursion, no deadlock).
	s := NewSerial(Inline{})
	var order []string
	s.Execute(func() {
		order = append(order, "outer start")
		s.Execute(func() { order = append(order, "inner") })
		order = append(order, "outer end")
	})
	require.Equal(t, []string{"outer start", "outer end", "inner"}, order)
}

func TestSerialQueueCompaction(t *testing.T) {
	// Keep the drainer busy while the queue wraps many times; order holds.
	gate := make(chan struct{})
	s := NewSerial(Goroutines{})
	var ran []int
	done := make(chan struct{})
	s.Execute(func() { <-gate })
	const n = 5000
	for i := range n {
		s.Execute(func() {
			ran = append(ran, i)
			if i == n-1 {
				close(done)
			}
		})
		if i == 100 {
			close(gate)
		}
	}
	recv(t, done, "all tasks")
	require.Len(t, ran, n)
	for i, k := range ran {
		if k != i {
			require.Equal(t, i, k)
		}
	}
}
