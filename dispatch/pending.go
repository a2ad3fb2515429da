package dispatch

import (
	"sync"
)

// Table numbers the requests one side of a connection sends and matches
// the peer's replies to them, like net/rpc's pending map (PROTOCOL.md §5.2):
// sequence numbers start at 0, are never reused, and a reply is matched by
// its seq alone. Replies with an unknown seq are the caller's to drop.
//
// A Table is safe for concurrent use. It starts no goroutines; results
// complete on the goroutine that delivers, fails or expires them.
type Table struct {
	mu      sync.Mutex
	next    int64
	pending map[int64]*AsyncResult
	closed  *ClosedError // set by FailAll
}

// NewTable returns an empty table whose first sequence number is 0.
func NewTable() *Table {
	return &Table{} // the map is made by the first Register: idle is small
}

// Register takes the next sequence number and registers a pending result
// for it in one step, so a reply can never arrive before its entry. After
// FailAll it returns the *ClosedError at once (and seq 0, nil). The result
// is completed by Deliver, FailAll, its expiry, or the caller (Fail).
func (t *Table) Register() (seq int64, r *AsyncResult, err error) {
	r = &AsyncResult{table: t}
	t.mu.Lock()
	if t.closed != nil {
		err = t.closed
		t.mu.Unlock()
		return 0, nil, err
	}
	seq = t.next
	t.next++
	r.seq = seq
	if t.pending == nil {
		t.pending = make(map[int64]*AsyncResult)
	}
	t.pending[seq] = r
	t.mu.Unlock()
	return seq, r, nil
}

// NextSeq takes the next sequence number without registering anything, for
// requests whose reply is not tracked (CLOSE, fire-and-forget DEL). It works
// after FailAll too: numbers are never reused.
func (t *Table) NextSeq() int64 {
	t.mu.Lock()
	seq := t.next
	t.next++
	t.mu.Unlock()
	return seq
}

// Deliver completes the result registered for seq with the peer's answer
// (a value, or the error of a MSG_EXCEPTION) and removes its entry. It
// returns false, and does nothing, for a seq that is not pending: never
// sent, already answered, cancelled, expired, or failed by FailAll; the
// caller drops such a reply silently. Callbacks registered with Then run on
// the calling goroutine before Deliver returns.
func (t *Table) Deliver(seq int64, v any, err error) bool {
	t.mu.Lock()
	r, ok := t.pending[seq]
	if ok {
		delete(t.pending, seq)
	}
	t.mu.Unlock()
	if !ok {
		return false
	}
	return r.complete(v, err)
}

// Cancel drops the entry for seq, so that a late reply is discarded, and
// reports whether there was one. It does not complete the result: a
// caller that gives up on a result it handed out should also Fail it.
func (t *Table) Cancel(seq int64) bool {
	t.mu.Lock()
	_, ok := t.pending[seq]
	if ok {
		delete(t.pending, seq)
	}
	t.mu.Unlock()
	return ok
}

// FailAll closes the table: every pending result fails at once with the
// same *ClosedError{Cause: cause} (errors.Is ErrClosed, and cause), and
// every later Register returns that error. Only the first call has an
// effect. Callbacks of the failed results run on the calling goroutine
// before FailAll returns.
func (t *Table) FailAll(cause error) {
	t.mu.Lock()
	if t.closed != nil {
		t.mu.Unlock()
		return
	}
	ce := &ClosedError{Cause: cause}
	t.closed = ce
	pending := t.pending
	t.pending = nil // lookups and deletes on a nil map are no-ops
	t.mu.Unlock()
	for _, r := range pending {
		r.finish(stateFailed, nil, ce)
	}
}

// Err returns the *ClosedError after FailAll, nil before.
func (t *Table) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed == nil {
		return nil
	}
	return t.closed
}

// Len returns the number of pending entries.
func (t *Table) Len() int {
	t.mu.Lock()
	n := len(t.pending)
	t.mu.Unlock()
	return n
}
