package dispatch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// States of an AsyncResult. Every result leaves statePending exactly once.
const (
	statePending uint32 = iota
	stateReplied        // the outcome arrived (Complete, Table.Deliver)
	stateFailed         // no reply will come (Fail, Table.FailAll)
	stateExpired        // the expiry passed without a reply
)

// closedChan is the Done channel of results that completed before anyone
// asked for one, so that completing without a waiter allocates nothing.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// AsyncResult is the pending outcome of one request: RPyC's AsyncResult.
// It completes exactly once, with the peer's reply (a value, or the error
// built from a MSG_EXCEPTION), or fails locally when the connection closes
// (*ClosedError) or its expiry passes (*TimeoutError matching ErrExpired).
//
// All methods are safe for concurrent use. A result that nobody waits on
// costs one allocation; its Done channel is made on first demand.
type AsyncResult struct {
	seq   int64
	table *Table // the table it is registered in, or nil

	state atomic.Uint32

	mu      sync.Mutex
	running bool // callbacks are being run by the completing goroutine
	done    chan struct{}
	value   any
	err     error
	cbs     []func(v any, err error)
	exp     *expiry // set by SetExpiry
}

// expiry is a result's time to live (SetExpiry), kept apart so that results
// without one stay small. Guarded by the result's mu.
type expiry struct {
	gen      uint64 // bumped by SetExpiry to retire a replaced timer
	timer    *time.Timer
	after    time.Duration
	deadline time.Time
}

// NewAsyncResult returns a pending result for request seq that belongs to no
// Table. The caller completes it with Complete or Fail; a connection uses it
// for results that fail before they are sent.
func NewAsyncResult(seq int64) *AsyncResult {
	return &AsyncResult{seq: seq}
}

// Seq returns the sequence number of the request this result answers.
func (r *AsyncResult) Seq() int64 { return r.seq }

// Ready reports whether the result has completed: a reply arrived, or it
// failed or expired. (Python's AsyncResult.ready stays False on expiry; here
// an expired result is complete, with an error matching ErrExpired.)
func (r *AsyncResult) Ready() bool { return r.state.Load() != statePending }

// Done returns a channel that is closed when the result completes. The
// channel is made on the first call, so results nobody selects on never
// allocate one.
func (r *AsyncResult) Done() <-chan struct{} {
	if r.state.Load() != statePending {
		return closedChan
	}
	r.mu.Lock()
	if r.done == nil {
		if r.state.Load() != statePending {
			r.mu.Unlock()
			return closedChan
		}
		r.done = make(chan struct{})
	}
	d := r.done
	r.mu.Unlock()
	return d
}

// Wait blocks until the result completes or ctx ends. It returns nil when
// the peer's answer arrived (even if that answer is an exception: Result
// returns it), the *ClosedError or *TimeoutError when no answer will come
// (the connection closed, the expiry passed, or Fail was called), a
// *TimeoutError wrapping context.DeadlineExceeded when ctx's deadline
// passed first, and ctx.Err() wrapped with the sequence number when ctx was
// cancelled. Ending the wait early does not cancel the request: Wait may be
// called again. A nil ctx means context.Background().
func (r *AsyncResult) Wait(ctx context.Context) error {
	if r.state.Load() != statePending {
		return r.waitErr()
	}
	var cdone <-chan struct{}
	if ctx != nil {
		cdone = ctx.Done()
	}
	done := r.Done()
	if cdone == nil {
		<-done
		return r.waitErr()
	}
	start := time.Now()
	select {
	case <-done:
		return r.waitErr()
	case <-cdone:
		if r.state.Load() != statePending {
			return r.waitErr()
		}
		return r.ctxErr(ctx, time.Since(start))
	}
}

// waitErr is Wait's answer for a completed result.
func (r *AsyncResult) waitErr() error {
	if r.state.Load() == stateReplied {
		return nil
	}
	return r.err
}

// ctxErr is Wait's answer when ctx ended first.
func (r *AsyncResult) ctxErr(ctx context.Context, waited time.Duration) error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return &TimeoutError{Seq: r.seq, After: waited, Cause: err}
	}
	return fmt.Errorf("rpyc: waiting for reply to seq %d: %w", r.seq, err)
}

// ResultWithin is Result with a bound on the wait besides ctx: when d
// passes first it returns a *TimeoutError wrapping
// context.DeadlineExceeded, as Result does when ctx's deadline passes. It
// is the cheap form of Result(context.WithTimeout(ctx, d)): the timer is
// pooled, and no context is made.
func (r *AsyncResult) ResultWithin(ctx context.Context, d time.Duration) (any, error) {
	if r.state.Load() == statePending {
		var cdone <-chan struct{}
		if ctx != nil {
			cdone = ctx.Done()
		}
		done := r.Done()
		t := getTimer(d)
		var err error
		select {
		case <-done:
		case <-cdone:
			if r.state.Load() == statePending {
				err = r.ctxErr(ctx, d) // cancelled: no deadline of its own
			}
		case <-t.C:
			if r.state.Load() == statePending {
				err = &TimeoutError{Seq: r.seq, After: d, Cause: context.DeadlineExceeded}
			}
		}
		putTimer(t)
		if err != nil {
			return nil, err
		}
	}
	if err := r.waitErr(); err != nil {
		return nil, err
	}
	return r.value, r.err
}

// timers are stopped timers for ResultWithin. Since Go 1.23 a stopped or
// reset timer never delivers a stale tick, so they can be reused.
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// Result waits like Wait, then returns the value, or the error the result
// completed with (a remote exception, *ClosedError, *TimeoutError), or the
// error that ended the wait.
func (r *AsyncResult) Result(ctx context.Context) (any, error) {
	if err := r.Wait(ctx); err != nil {
		return nil, err
	}
	return r.value, r.err
}

// Value returns the outcome without blocking: the value and error the
// result completed with, or ErrNotReady while it is pending.
func (r *AsyncResult) Value() (any, error) {
	if r.state.Load() == statePending {
		return nil, ErrNotReady
	}
	return r.value, r.err
}

// Err returns the error the result completed with: nil while it is pending
// and when it completed with a value.
func (r *AsyncResult) Err() error {
	if r.state.Load() == statePending {
		return nil
	}
	return r.err
}

// Then registers fn to run with the outcome once the result completes
// (RPyC's add_callback). Callbacks run in registration order. If the result
// has already completed and its earlier callbacks have run, fn runs at once
// on the caller's goroutine; otherwise it runs on the goroutine that
// completes the result — Table.Deliver's caller (for a connection, the one
// that reads the socket), FailAll's caller, or the expiry's timer — so fn
// must not block or wait for the peer: hand long work to a goroutine or an
// Executor. If a callback panics, the remaining callbacks still run
// and the first panic is then re-raised on the completing goroutine. A nil
// fn is ignored.
func (r *AsyncResult) Then(fn func(v any, err error)) {
	if fn == nil {
		return
	}
	r.mu.Lock()
	if r.state.Load() == statePending || r.running {
		r.cbs = append(r.cbs, fn)
		r.mu.Unlock()
		return
	}
	v, err := r.value, r.err
	r.mu.Unlock()
	fn(v, err)
}

// SetExpiry gives the result a time to live (RPyC's set_expiry): if no
// reply arrives within d from now, the result fails with a *TimeoutError
// that matches ErrExpired and ErrTimeout, its waiters and callbacks are
// woken, and its entry is dropped from its Table so a late reply is
// discarded. Calling it again replaces the previous expiry; d <= 0 removes
// it. It does nothing once the result has completed. The expiry runs on a
// runtime timer, not a goroutine.
func (r *AsyncResult) SetExpiry(d time.Duration) {
	r.mu.Lock()
	if r.state.Load() != statePending {
		r.mu.Unlock()
		return
	}
	if r.exp == nil {
		if d <= 0 {
			r.mu.Unlock()
			return
		}
		r.exp = &expiry{}
	}
	e := r.exp
	e.gen++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if d <= 0 {
		e.after, e.deadline = 0, time.Time{}
		r.mu.Unlock()
		return
	}
	gen := e.gen
	e.after, e.deadline = d, time.Now().Add(d)
	e.timer = time.AfterFunc(d, func() { r.expire(gen) })
	r.mu.Unlock()
}

// Expired reports whether the result's expiry passed before a reply
// arrived. A result whose deadline has passed is expired at once, even if
// its timer has not run yet.
func (r *AsyncResult) Expired() bool {
	switch r.state.Load() {
	case stateExpired:
		return true
	case statePending:
		r.mu.Lock()
		if r.state.Load() != statePending || r.exp == nil || r.exp.after <= 0 || time.Now().Before(r.exp.deadline) {
			r.mu.Unlock()
			return r.state.Load() == stateExpired
		}
		r.expireLocked()
		return true
	default:
		return false
	}
}

// expire is the expiry timer's function; gen tells a stale timer apart.
func (r *AsyncResult) expire(gen uint64) {
	r.mu.Lock()
	if r.state.Load() != statePending || r.exp.gen != gen {
		r.mu.Unlock()
		return
	}
	r.expireLocked()
}

// expireLocked fails the result as expired; r.mu is held and is released.
// The table entry goes first, so that whoever the expiry wakes finds it
// gone. (Lock order: AsyncResult.mu, then Table.mu; the Table never holds
// its lock while it touches a result.)
func (r *AsyncResult) expireLocked() {
	if r.table != nil {
		r.table.Cancel(r.seq)
	}
	err := &TimeoutError{Seq: r.seq, After: r.exp.after, Expired: true}
	r.finishLocked(stateExpired, nil, err)
}

// Complete completes the result with the peer's answer: a value, or the
// error built from its exception. It returns false, and changes nothing, if
// the result had already completed. Results registered in a Table are
// normally completed by Table.Deliver; completing one directly also drops
// its table entry, so a later reply is discarded.
func (r *AsyncResult) Complete(v any, err error) bool {
	if r.table != nil && r.state.Load() == statePending {
		r.table.Cancel(r.seq)
	}
	return r.finish(stateReplied, v, err)
}

// Fail completes the result with err, meaning no answer will come (the
// request could not be sent, or its caller gave up): Wait returns err. It
// drops the result's table entry, if any, so a later reply is discarded.
// It returns false, and changes nothing, if the result had already
// completed.
func (r *AsyncResult) Fail(err error) bool {
	if r.table != nil && r.state.Load() == statePending {
		r.table.Cancel(r.seq)
	}
	return r.finish(stateFailed, nil, err)
}

// complete is Complete for the Table.
func (r *AsyncResult) complete(v any, err error) bool {
	return r.finish(stateReplied, v, err)
}

func (r *AsyncResult) finish(state uint32, v any, err error) bool {
	if r.state.Load() != statePending {
		return false
	}
	r.mu.Lock()
	if r.state.Load() != statePending {
		r.mu.Unlock()
		return false
	}
	r.finishLocked(state, v, err)
	return true
}

// finishLocked completes a pending result; r.mu is held and is released
// before the callbacks run.
func (r *AsyncResult) finishLocked(state uint32, v any, err error) {
	r.value, r.err = v, err
	r.state.Store(state)
	if r.exp != nil && r.exp.timer != nil {
		r.exp.timer.Stop()
		r.exp.timer = nil
	}
	if r.done != nil {
		close(r.done)
	}
	if len(r.cbs) == 0 {
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	r.runCallbacks(v, err)
}

// runCallbacks runs the registered callbacks in order, including those
// registered while it runs, then re-raises the first panic, if any.
func (r *AsyncResult) runCallbacks(v any, err error) {
	var first any
	for {
		r.mu.Lock()
		cbs := r.cbs
		r.cbs = nil
		if len(cbs) == 0 {
			r.running = false
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		for _, fn := range cbs {
			if p := callRecover(fn, v, err); p != nil && first == nil {
				first = p
			}
		}
	}
	if first != nil {
		panic(first)
	}
}

func callRecover(fn func(any, error), v any, err error) (p any) {
	defer func() { p = recover() }()
	fn(v, err)
	return nil
}

// Call makes a synchronous request on t: it registers a result, calls send
// with its sequence number, and waits for the reply, at most timeout
// (0 means DefaultTimeout, RPyC's sync_request_timeout; a negative timeout
// means none besides ctx) and no longer than ctx allows. It returns the
// reply's value, or its error (a remote exception); a *ClosedError if the
// connection closed; a *TimeoutError (net.Error, errors.Is ErrTimeout) if
// the timeout or ctx's deadline passed; ctx's error if ctx was cancelled;
// send's error if sending failed. In every case but a reply, the request's
// entry is cancelled so that a late reply is discarded.
func Call(ctx context.Context, t *Table, timeout time.Duration, send func(seq int64) error) (any, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	seq, r, err := t.Register()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		err := r.ctxErr(ctx, 0)
		r.Fail(err) // drops the entry
		return nil, err
	}
	if err := send(seq); err != nil {
		r.Fail(err)
		return nil, err
	}
	if timeout > 0 && r.state.Load() == statePending {
		// A context deadline that comes first makes the expiry timer moot.
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
			r.SetExpiry(timeout)
		}
	}
	v, err := r.Result(ctx)
	if err != nil && r.state.Load() == statePending {
		// ctx ended the wait: drop the entry and settle the result, unless
		// the reply won the race, in which case it is the answer.
		if !r.Fail(err) {
			return r.Value()
		}
	}
	return v, err
}
