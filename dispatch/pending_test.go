package dispatch

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bound is how long a test waits for something that must happen promptly
// before it declares the test failed; it is never used to synchronise.
const bound = 10 * time.Second

// recv waits for one value from c, failing the test after bound.
func recv[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(bound):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// requireBlocked checks that nothing arrives on c for a short while: a
// negative check (this must not happen), not a synchronisation.
func requireBlocked[T any](t testing.TB, c <-chan T, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("%s should still be blocked", what)
	case <-time.After(30 * time.Millisecond):
	}
}

// requireGoroutines polls, within bound, until no more than base goroutines
// run.
func requireGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestRegisterSequenceNumbers(t *testing.T) {
	tb := NewTable()
	for want := int64(0); want < 5; want++ {
		seq, r, err := tb.Register()
		require.NoError(t, err)
		require.Equal(t, want, seq)
		require.Equal(t, want, r.Seq())
	}
	require.Equal(t, int64(5), tb.NextSeq(), "NextSeq shares the counter")
	seq, _, err := tb.Register()
	require.NoError(t, err)
	require.Equal(t, int64(6), seq)
	require.Equal(t, 6, tb.Len())
	require.NoError(t, tb.Err())
}

// TestRegisterDeliverConcurrent runs 64 callers × 1000 synchronous calls
// against a peer that answers each batch of requests in shuffled order.
func TestRegisterDeliverConcurrent(t *testing.T) {
	const callers, calls = 64, 1000
	base := runtime.NumGoroutine()
	tb := NewTable()

	type request struct {
		seq     int64
		payload int
	}
	wire := make(chan request, callers)
	peerDone := make(chan map[int64]bool)
	go func() { // the peer: answers whatever is in flight, shuffled
		seen := make(map[int64]bool, callers*calls)
		batch := make([]request, 0, callers)
		for req := range wire {
			batch = append(batch[:0], req)
		more:
			for len(batch) < callers {
				select {
				case req, ok := <-wire:
					if !ok {
						break more
					}
					batch = append(batch, req)
				default:
					break more
				}
			}
			rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			for _, req := range batch {
				if seen[req.seq] {
					panic("sequence number reused")
				}
				seen[req.seq] = true
				if !tb.Deliver(req.seq, req.payload, nil) {
					panic("reply to a pending request not delivered")
				}
				// A duplicate reply is dropped.
				if tb.Deliver(req.seq, -1, nil) {
					panic("duplicate reply delivered")
				}
			}
		}
		peerDone <- seen
	}()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				payload := g*calls + i
				v, err := Call(context.Background(), tb, 0, func(seq int64) error {
					wire <- request{seq, payload}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if v != payload {
					errs <- errors.New("reply matched to the wrong request")
					return
				}
			}
		})
	}
	wg.Wait()
	close(wire)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := recv(t, peerDone, "the peer")
	require.Len(t, seen, callers*calls)
	for seq := range int64(callers * calls) {
		require.True(t, seen[seq], "seq %d never sent", seq)
	}
	require.Zero(t, tb.Len())
	requireGoroutines(t, base)
}

func TestDeliverUnknownDuplicateCancelled(t *testing.T) {
	tb := NewTable()
	require.False(t, tb.Deliver(0, "never sent", nil))
	require.False(t, tb.Deliver(-1, "never sent", nil))

	seq, r, err := tb.Register()
	require.NoError(t, err)
	require.False(t, tb.Deliver(seq+1, "not yet sent", nil))
	require.True(t, tb.Deliver(seq, "first", nil))
	require.False(t, tb.Deliver(seq, "second", nil), "already answered")
	v, err := r.Value()
	require.NoError(t, err)
	require.Equal(t, "first", v)

	seq, r, err = tb.Register()
	require.NoError(t, err)
	require.True(t, tb.Cancel(seq))
	require.False(t, tb.Cancel(seq))
	require.False(t, tb.Deliver(seq, "late", nil), "cancelled")
	require.False(t, r.Ready(), "Cancel does not complete the result")
	require.Zero(t, tb.Len())

	// A remote exception is an outcome like a value.
	remote := errors.New("ValueError: bad")
	seq, r, err = tb.Register()
	require.NoError(t, err)
	require.True(t, tb.Deliver(seq, nil, remote))
	require.NoError(t, r.Wait(context.Background()), "an answer arrived")
	_, err = r.Result(context.Background())
	require.ErrorIs(t, err, remote)
}

func TestFailAll(t *testing.T) {
	const waiters = 100
	tb := NewTable()
	results := make([]*AsyncResult, waiters)
	errs := make(chan error, waiters)
	var started sync.WaitGroup
	for i := range results {
		_, r, err := tb.Register()
		require.NoError(t, err)
		results[i] = r
		started.Add(1)
		go func() {
			done := r.Done() // made before FailAll: the wake-up is a close
			started.Done()
			<-done
			_, err := r.Result(context.Background())
			errs <- err
		}()
	}
	started.Wait()
	var thenErr error
	results[0].Then(func(_ any, err error) { thenErr = err })

	tb.FailAll(io.EOF)
	require.Zero(t, tb.Len())
	require.ErrorIs(t, thenErr, ErrClosed, "callbacks ran before FailAll returned")
	for range waiters {
		err := recv(t, errs, "a waiter")
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, err, io.EOF)
		var ce *ClosedError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, io.EOF, ce.Cause)
	}
	for _, r := range results {
		require.True(t, r.Ready())
		require.False(t, r.Expired())
		require.ErrorIs(t, r.Wait(context.Background()), io.EOF, "Wait reports why no answer came")
	}

	// Later registrations fail at once with the same error; the first
	// cause wins.
	tb.FailAll(errors.New("second close"))
	_, r, err := tb.Register()
	require.Nil(t, r)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, io.EOF)
	require.Same(t, tb.Err(), err)
	require.False(t, tb.Deliver(0, "late", nil))
	require.False(t, tb.Cancel(1))
	_, err = Call(context.Background(), tb, 0, func(int64) error {
		t.Fatal("send after close")
		return nil
	})
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, int64(waiters), tb.NextSeq(), "seqs are never reused")
}

func TestFailAllNilCause(t *testing.T) {
	tb := NewTable()
	_, r, err := tb.Register()
	require.NoError(t, err)
	tb.FailAll(nil)
	err = r.Err()
	require.ErrorIs(t, err, ErrClosed)
	require.EqualError(t, err, "rpyc: connection closed")
}

func TestCallTimeout(t *testing.T) {
	tb := NewTable()
	var sent int64 = -1
	start := time.Now()
	_, err := Call(context.Background(), tb, 20*time.Millisecond, func(seq int64) error {
		sent = seq
		return nil
	})
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

	var te *TimeoutError
	require.ErrorAs(t, err, &te)
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, ErrExpired)
	require.NotErrorIs(t, err, ErrClosed)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.True(t, ne.Temporary()) //nolint:staticcheck // part of net.Error
	require.True(t, te.Expired)
	require.Equal(t, sent, te.Seq)
	require.Equal(t, 20*time.Millisecond, te.After)
	require.Contains(t, err.Error(), "result expired")

	require.Zero(t, tb.Len(), "entry cancelled")
	require.False(t, tb.Deliver(sent, "late", nil), "late reply dropped")
}

func TestCallContext(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		tb := NewTable()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		var sent int64
		_, err := Call(ctx, tb, time.Hour, func(seq int64) error { sent = seq; return nil })
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		require.ErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, ErrExpired)
		require.False(t, te.Expired)
		require.Equal(t, sent, te.Seq)
		require.Zero(t, tb.Len())
		require.False(t, tb.Deliver(sent, "late", nil))
	})
	t.Run("cancel", func(t *testing.T) {
		tb := NewTable()
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Call(ctx, tb, 0, func(int64) error { cancel(); return nil })
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrTimeout)
		var ne net.Error
		require.False(t, errors.As(err, &ne), "a cancel is not a timeout")
		require.Zero(t, tb.Len())
	})
	t.Run("done before sending", func(t *testing.T) {
		tb := NewTable()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Call(ctx, tb, 0, func(int64) error {
			t.Fatal("sent on a cancelled context")
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, tb.Len())
	})
}

func TestCallOutcomes(t *testing.T) {
	t.Run("reply from another goroutine", func(t *testing.T) {
		tb := NewTable()
		v, err := Call(context.Background(), tb, 0, func(seq int64) error {
			go tb.Deliver(seq, "pong", nil)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, "pong", v)
	})
	t.Run("reply inside send", func(t *testing.T) {
		tb := NewTable()
		v, err := Call(context.Background(), tb, -1, func(seq int64) error {
			require.True(t, tb.Deliver(seq, 42, nil))
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 42, v)
	})
	t.Run("remote exception", func(t *testing.T) {
		tb := NewTable()
		remote := errors.New("KeyError: 7")
		_, err := Call(context.Background(), tb, 0, func(seq int64) error {
			go tb.Deliver(seq, nil, remote)
			return nil
		})
		require.ErrorIs(t, err, remote)
	})
	t.Run("send fails", func(t *testing.T) {
		tb := NewTable()
		broken := errors.New("broken pipe")
		var sent int64
		_, err := Call(context.Background(), tb, 0, func(seq int64) error { sent = seq; return broken })
		require.ErrorIs(t, err, broken)
		require.Zero(t, tb.Len())
		require.False(t, tb.Deliver(sent, "late", nil))
	})
	t.Run("connection dies while waiting", func(t *testing.T) {
		tb := NewTable()
		_, err := Call(context.Background(), tb, 0, func(int64) error {
			go tb.FailAll(io.ErrUnexpectedEOF)
			return nil
		})
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestErrorsShape(t *testing.T) {
	var _ net.Error = (*TimeoutError)(nil)
	te := &TimeoutError{Seq: 3, After: time.Second, Expired: true}
	require.EqualError(t, te, "rpyc: result expired: no reply to seq 3 after 1s")
	require.ErrorIs(t, te, ErrTimeout)
	require.ErrorIs(t, te, ErrExpired)
	te = &TimeoutError{Seq: 4, After: time.Second, Cause: context.DeadlineExceeded}
	require.EqualError(t, te, "rpyc: result expired: no reply to seq 4 after 1s: context deadline exceeded")
	require.NotErrorIs(t, te, ErrExpired)

	ce := &ClosedError{Cause: io.EOF}
	require.EqualError(t, ce, "rpyc: connection closed: EOF")
	wrapped := errors.Join(errors.New("conn"), ce)
	require.ErrorIs(t, wrapped, ErrClosed)
	require.ErrorIs(t, wrapped, io.EOF)
}
