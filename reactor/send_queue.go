package reactor

// sendQueue is a connection's outgoing bytes: pending (appended by Write,
// not yet taken by the writer) and inflight (taken by the writer and not yet
// known to be in the socket). Its owner guards it with a mutex.
type sendQueue struct {
	pending  *[]byte
	inflight int
	max      int
}

func (q *sendQueue) queued() int {
	n := q.inflight
	if q.pending != nil {
		n += len(*q.pending)
	}
	return n
}

// push appends a copy of b, or returns ErrQueueFull and appends nothing.
func (q *sendQueue) push(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	queued := q.queued()
	if queued > 0 && queued+len(b) > q.max {
		return ErrQueueFull
	}
	if q.pending == nil {
		q.pending = getBuf(len(b))
	} else if need := len(*q.pending) + len(b); need > cap(*q.pending) {
		grown := getBuf(max(need, 2*cap(*q.pending)))
		*grown = append(*grown, *q.pending...)
		putBuf(q.pending)
		q.pending = grown
	}
	*q.pending = append(*q.pending, b...)
	return nil
}

// take hands the pending bytes to the writer, counting them as inflight.
// It returns nil when nothing is pending.
func (q *sendQueue) take() *[]byte {
	p := q.pending
	if p == nil {
		return nil
	}
	q.pending = nil
	q.inflight += len(*p)
	return p
}

// drop discards the pending bytes.
func (q *sendQueue) drop() {
	putBuf(q.pending)
	q.pending = nil
	q.inflight = 0
}
