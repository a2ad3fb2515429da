package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAsyncResultLifecycle(t *testing.T) {
	r := NewAsyncResult(7)
	require.Equal(t, int64(7), r.Seq())
	require.False(t, r.Ready())
	require.False(t, r.Expired())
	require.NoError(t, r.Err())
	_, err := r.Value()
	require.ErrorIs(t, err, ErrNotReady)
	done := r.Done()
	require.Equal(t, done, r.Done(), "one channel")
	select {
	case <-done:
		t.Fatal("done before completion")
	default:
	}

	got := make(chan error, 1)
	go func() {
		v, err := r.Result(context.Background())
		if err == nil && v != "ok" {
			err = errors.New("wrong value")
		}
		got <- err
	}()

	require.True(t, r.Complete("ok", nil))
	require.False(t, r.Complete("again", nil), "exactly once")
	require.False(t, r.Fail(errors.New("late")))
	require.NoError(t, recv(t, got, "the waiter"))
	recv(t, done, "done")
	require.True(t, r.Ready())
	v, err := r.Value()
	require.NoError(t, err)
	require.Equal(t, "ok", v)
	require.NoError(t, r.Wait(context.Background()))
	recv(t, r.Done(), "done after completion")
}

func TestAsyncResultDoneAfterCompletion(t *testing.T) {
	r := NewAsyncResult(0)
	r.Complete(1, nil)
	recv(t, r.Done(), "done on a result completed without a channel")
	require.Nil(t, r.done, "no channel made for nobody")
}

func TestAsyncResultFail(t *testing.T) {
	r := NewAsyncResult(1)
	cause := errors.New("could not send")
	require.True(t, r.Fail(cause))
	require.ErrorIs(t, r.Wait(context.Background()), cause)
	_, err := r.Result(context.Background())
	require.ErrorIs(t, err, cause)
	require.ErrorIs(t, r.Err(), cause)
}

func TestWaitContext(t *testing.T) {
	t.Run("cancel is not a timeout", func(t *testing.T) {
		r := NewAsyncResult(2)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := r.Wait(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrTimeout)
		require.False(t, r.Ready(), "giving up waiting does not end the request")
		// Wait again; this time the answer comes.
		go r.Complete("later", nil)
		v, err := r.Result(context.Background())
		require.NoError(t, err)
		require.Equal(t, "later", v)
	})
	t.Run("deadline is a timeout", func(t *testing.T) {
		r := NewAsyncResult(3)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		err := r.Wait(ctx)
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		require.Equal(t, int64(3), te.Seq)
		require.False(t, te.Expired)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, ErrTimeout)
		require.NotErrorIs(t, err, ErrExpired)
		require.False(t, r.Expired())
	})
	t.Run("completed result ignores a done context", func(t *testing.T) {
		r := NewAsyncResult(4)
		r.Complete(nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, r.Wait(ctx))
	})
	t.Run("nil context", func(t *testing.T) {
		r := NewAsyncResult(5)
		go r.Complete(5, nil)
		var ctx context.Context // nil means Background
		require.NoError(t, r.Wait(ctx))
	})
}

func TestThen(t *testing.T) {
	t.Run("registration order, then at once", func(t *testing.T) {
		r := NewAsyncResult(0)
		var order []int
		for i := range 5 {
			r.Then(func(v any, err error) {
				require.Equal(t, "v", v)
				require.NoError(t, err)
				order = append(order, i)
			})
		}
		r.Then(nil) // ignored
		require.Empty(t, order)
		require.True(t, r.Complete("v", nil))
		require.Equal(t, []int{0, 1, 2, 3, 4}, order, "ran on the completing goroutine, in order")

		// Already complete: runs now, on this goroutine.
		r.Then(func(any, error) { order = append(order, 5) })
		require.Equal(t, []int{0, 1, 2, 3, 4, 5}, order)
	})
	t.Run("registered from a callback", func(t *testing.T) {
		r := NewAsyncResult(0)
		var order []string
		r.Then(func(any, error) {
			order = append(order, "a")
			r.Then(func(any, error) { order = append(order, "nested") })
		})
		r.Then(func(any, error) { order = append(order, "b") })
		r.Complete(nil, nil)
		require.Equal(t, []string{"a", "b", "nested"}, order)
	})
	t.Run("concurrent registration keeps order", func(t *testing.T) {
		for range 200 {
			r := NewAsyncResult(0)
			var mu sync.Mutex
			var order []int
			started := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				close(started)
				r.Complete(nil, nil)
			})
			<-started
			// Registered in this goroutine's order while the completion may
			// be running: they must run 0, 1, 2, ... whoever runs them.
			for i := range 10 {
				r.Then(func(any, error) {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
				})
			}
			wg.Wait()
			require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, order)
		}
	})
	t.Run("error outcome", func(t *testing.T) {
		r := NewAsyncResult(0)
		boom := errors.New("boom")
		var got error
		r.Then(func(_ any, err error) { got = err })
		r.Fail(boom)
		require.ErrorIs(t, got, boom)
	})
	t.Run("panic does not skip later callbacks", func(t *testing.T) {
		r := NewAsyncResult(0)
		var ran []int
		r.Then(func(any, error) { ran = append(ran, 1); panic("first") })
		r.Then(func(any, error) { ran = append(ran, 2); panic("second") })
		r.Then(func(any, error) { ran = append(ran, 3) })
		require.PanicsWithValue(t, "first", func() { r.Complete(nil, nil) })
		require.Equal(t, []int{1, 2, 3}, ran)
		require.True(t, r.Ready())
		r.Then(func(any, error) { ran = append(ran, 4) })
		require.Equal(t, []int{1, 2, 3, 4}, ran, "not stuck after a panic")
	})
	t.Run("panicking callback in Deliver leaves the table consistent", func(t *testing.T) {
		tb := NewTable()
		seq, r, err := tb.Register()
		require.NoError(t, err)
		r.Then(func(any, error) { panic("user bug") })
		require.Panics(t, func() { tb.Deliver(seq, 1, nil) })
		require.Zero(t, tb.Len())
		v, err := r.Value()
		require.NoError(t, err)
		require.Equal(t, 1, v)
	})
}

func TestSetExpiry(t *testing.T) {
	t.Run("expires and drops the entry", func(t *testing.T) {
		tb := NewTable()
		seq, r, err := tb.Register()
		require.NoError(t, err)
		thenErr := make(chan error, 1)
		r.Then(func(_ any, err error) { thenErr <- err })
		r.SetExpiry(10 * time.Millisecond)

		err = r.Wait(context.Background())
		require.ErrorIs(t, err, ErrExpired)
		require.ErrorIs(t, err, ErrTimeout)
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		require.True(t, te.Expired)
		require.Equal(t, seq, te.Seq)
		require.Equal(t, 10*time.Millisecond, te.After)
		require.ErrorIs(t, recv(t, thenErr, "callback"), ErrExpired)

		require.True(t, r.Expired())
		require.True(t, r.Ready())
		_, err = r.Result(context.Background())
		require.ErrorIs(t, err, ErrExpired)
		require.False(t, tb.Deliver(seq, "late", nil), "late reply dropped")
		require.Zero(t, tb.Len())
		require.False(t, r.Complete("late", nil))
	})
	t.Run("reply before expiry", func(t *testing.T) {
		tb := NewTable()
		seq, r, err := tb.Register()
		require.NoError(t, err)
		r.SetExpiry(time.Hour)
		require.True(t, tb.Deliver(seq, "in time", nil))
		require.False(t, r.Expired())
		require.Nil(t, r.exp.timer, "timer released on completion")
		r.SetExpiry(time.Nanosecond) // no-op once complete
		require.False(t, r.Expired())
		v, err := r.Value()
		require.NoError(t, err)
		require.Equal(t, "in time", v)
	})
	t.Run("replaced and removed", func(t *testing.T) {
		r := NewAsyncResult(0)
		r.SetExpiry(time.Hour)
		r.SetExpiry(5 * time.Millisecond) // replaces the hour
		require.ErrorIs(t, r.Wait(context.Background()), ErrExpired)

		r = NewAsyncResult(1)
		r.SetExpiry(time.Millisecond)
		r.SetExpiry(0) // removes it
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		err := r.Wait(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the context ended the wait, not an expiry")
		require.False(t, r.Expired())
		require.False(t, r.Ready())
	})
	t.Run("past deadline counts before the timer runs", func(t *testing.T) {
		r := NewAsyncResult(0)
		r.mu.Lock()
		r.exp = &expiry{after: time.Second, deadline: time.Now().Add(-time.Millisecond)}
		r.mu.Unlock()
		require.True(t, r.Expired())
		require.ErrorIs(t, r.Err(), ErrExpired)
	})
}

func TestFailDropsTableEntry(t *testing.T) {
	tb := NewTable()
	seq, r, err := tb.Register()
	require.NoError(t, err)
	gaveUp := errors.New("caller gave up")
	require.True(t, r.Fail(gaveUp))
	require.Zero(t, tb.Len())
	require.False(t, tb.Deliver(seq, "late", nil))
	require.ErrorIs(t, r.Wait(context.Background()), gaveUp)

	seq, r, err = tb.Register()
	require.NoError(t, err)
	require.True(t, r.Complete("direct", nil))
	require.Zero(t, tb.Len())
	require.False(t, tb.Deliver(seq, "late", nil))
	v, err := r.Value()
	require.NoError(t, err)
	require.Equal(t, "direct", v)
}

// ResultWithin bounds the wait like a context deadline would, with the
// same errors, and its pooled timers never fire into a later wait.
func TestResultWithin(t *testing.T) {
	tab := NewTable()
	_, r, err := tab.Register()
	require.NoError(t, err)
	_, err = r.ResultWithin(context.Background(), 5*time.Millisecond)
	var te *TimeoutError
	require.ErrorAs(t, err, &te)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, te.Expired)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.ResultWithin(ctx, time.Minute)
	require.ErrorIs(t, err, context.Canceled)

	for i := range 200 { // a reused timer must not end a later wait early
		seq, r, err := tab.Register()
		require.NoError(t, err)
		go tab.Deliver(seq, int64(i), nil)
		v, err := r.ResultWithin(nil, time.Minute)
		require.NoError(t, err)
		require.Equal(t, int64(i), v)
	}
	seq, r, err := tab.Register()
	require.NoError(t, err)
	remote := errors.New("remote")
	tab.Deliver(seq, nil, remote)
	_, err = r.ResultWithin(context.Background(), time.Minute)
	require.Equal(t, remote, err)
	tab.FailAll(errors.New("gone"))
	_, err = r.ResultWithin(context.Background(), time.Minute)
	require.Equal(t, remote, err, "a completed result keeps its outcome")
}
