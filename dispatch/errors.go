package dispatch

import (
	"errors"
	"fmt"
	"time"
)

// DefaultTimeout is how long a synchronous request waits for its reply when
// the caller gives no timeout: RPyC's sync_request_timeout (PROTOCOL.md §5.3,
// §10.1).
const DefaultTimeout = 30 * time.Second

var (
	// ErrClosed is the sentinel for "the connection is closed": every pending
	// result fails with a *ClosedError that matches it (errors.Is), and
	// Table.Register returns one after Table.FailAll.
	ErrClosed = errors.New("rpyc: connection closed")

	// ErrTimeout is the sentinel every *TimeoutError matches (errors.Is).
	ErrTimeout = errors.New("rpyc: timeout")

	// ErrExpired is the sentinel for a result whose expiry (SetExpiry) passed
	// without a reply. The *TimeoutError of an expired result matches both
	// ErrExpired and ErrTimeout.
	ErrExpired = errors.New("rpyc: result expired")

	// ErrNotReady is returned by AsyncResult.Value while no outcome has
	// arrived yet.
	ErrNotReady = errors.New("rpyc: result not ready")
)

// TimeoutError reports that no reply to request Seq arrived in time: either
// the result's expiry passed (Expired is true; RPyC's "result expired") or
// the waiter's context reached its deadline (Cause is
// context.DeadlineExceeded). It matches ErrTimeout, and ErrExpired when
// Expired is set, with errors.Is, unwraps to Cause, and implements net.Error
// with Timeout() and Temporary() true.
type TimeoutError struct {
	// Seq is the sequence number of the request that got no reply.
	Seq int64
	// After is how long the request went without a reply: the expiry that
	// passed, or how long the caller waited.
	After time.Duration
	// Expired is true when the result's own expiry passed (SetExpiry or the
	// timeout of Call), false when a context deadline ended the wait.
	Expired bool
	// Cause is the underlying error, if any (context.DeadlineExceeded when a
	// context ended the wait).
	Cause error
}

// Error returns RPyC's "result expired" with the sequence number and delay.
func (e *TimeoutError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("rpyc: result expired: no reply to seq %d after %v: %v", e.Seq, e.After, e.Cause)
	}
	return fmt.Sprintf("rpyc: result expired: no reply to seq %d after %v", e.Seq, e.After)
}

// Is reports whether target is ErrTimeout, or ErrExpired for an expired
// result.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || (e.Expired && target == ErrExpired)
}

// Unwrap returns Cause.
func (e *TimeoutError) Unwrap() error { return e.Cause }

// Timeout reports true: this is a timeout (net.Error).
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true: the connection is still usable (net.Error).
func (e *TimeoutError) Temporary() bool { return true }

// ClosedError is the error of every result that was pending when its
// connection closed, and of every Register after that. It matches ErrClosed
// with errors.Is and unwraps to Cause, so errors.Is(err, io.EOF) holds when
// the peer hung up.
type ClosedError struct {
	// Cause is why the connection closed (io.EOF, a read error, a local
	// Close); nil when no reason was given.
	Cause error
}

// Error returns "rpyc: connection closed", with the cause when there is one.
func (e *ClosedError) Error() string {
	if e.Cause == nil {
		return ErrClosed.Error()
	}
	return ErrClosed.Error() + ": " + e.Cause.Error()
}

// Is reports whether target is ErrClosed.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

// Unwrap returns Cause.
func (e *ClosedError) Unwrap() error { return e.Cause }
