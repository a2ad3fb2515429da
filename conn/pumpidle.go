package conn

import (
	"sync"
	"time"
	"weak"
)

// The idle sweeper kicks the reader goroutine of a client connection whose
// socket has been free and unread for pumpIdle (pump.go). One goroutine
// serves every connection of the process, and runs only while some
// connection is armed: a connection is armed when its token is freed with
// nothing awaited, and leaves the list when it is kicked, read by its
// reader goroutine, or closed.
//
// A timer per connection would cost more than the calls it watches: reset
// on every call, it wakes a sleeping thread to re-arm the poller whenever
// it becomes the earliest timer; left running, it fires once per pumpIdle
// per busy connection. The sweeper fires once per pumpIdle in all, and
// arming an armed connection is a store. The list holds its readers
// weakly: a connection dropped without Close, or closed between two
// sweeps, is not kept alive by it (nor its read buffer).
type idleSweeper struct {
	mu      sync.Mutex
	list    []weak.Pointer[netReader] // armed readers, added since the last sweep or kept
	running bool                      // the sweeping goroutine runs
}

var idleSweep idleSweeper

// add puts r on the list; the caller has set r.armed.
func (s *idleSweeper) add(r *netReader) {
	s.mu.Lock()
	s.list = append(s.list, weak.Make(r))
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.run()
	}
}

// run sweeps every pumpIdle, or sooner when the earliest armed reader is
// due sooner, until the list is empty.
func (s *idleSweeper) run() {
	t := time.NewTimer(pumpIdle)
	defer t.Stop()
	var batch []weak.Pointer[netReader]
	for {
		<-t.C
		s.mu.Lock()
		batch, s.list = s.list, batch[:0]
		s.mu.Unlock()

		next := pumpIdle
		kept := batch[:0]
		now := mono()
		for _, wr := range batch {
			r := wr.Value()
			if r == nil {
				continue // collected
			}
			if due, keep := r.sweep(now); keep {
				kept = append(kept, wr)
				next = min(next, due)
			}
		}
		clear(batch[len(kept):])

		s.mu.Lock()
		s.list = append(s.list, kept...)
		if len(s.list) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		clear(kept)
		batch = kept[:0]
		t.Reset(max(next, pumpIdle/8))
	}
}

// sweep looks at an armed reader at time now. It kicks the reader
// goroutine if the socket has been free for pumpIdle, and reports whether r
// stays on the list and how soon it is due.
func (r *netReader) sweep(now time.Duration) (due time.Duration, keep bool) {
	r.mu.Lock()
	switch {
	case r.c.closed.Load() || r.holder == readerLoop:
		// The reader goroutine reads (its release arms again), or
		// nothing will read any more.
		r.armed = false
		r.mu.Unlock()
		return 0, false
	case r.holder == readerCaller:
		// A caller reads: its release moves freedAt.
		r.mu.Unlock()
		return pumpIdle, true
	}
	if left := pumpIdle - (now - r.freedAt); left > 0 {
		r.mu.Unlock()
		return left, true
	}
	r.armed = false
	r.mu.Unlock()
	r.wake()
	return 0, false
}

// monoBase anchors monotonic timestamps (mono).
var monoBase = time.Now()

// mono is the time since monoBase, on the monotonic clock.
func mono() time.Duration { return time.Since(monoBase) }
