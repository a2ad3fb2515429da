package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpycgo/rpycgo/dispatch"
)

// A client connection over a TCP or unix socket is read by whichever
// goroutine needs its bytes, as Python's rpyc reads: a goroutine making a
// synchronous request reads the socket itself until its reply is in (it
// "pumps" the connection, serving whatever else arrives meanwhile), so the
// reply reaches it without a hand-over from another goroutine, which costs
// a wake-up of a sleeping thread per call. When no caller reads, the
// connection's own reader goroutine does, so that the peer's requests and
// events, and the replies of async requests, are never left unread.
//
// The right to read (the token) belongs to one goroutine at a time. A
// caller takes it when it is free; the reader goroutine takes it when
// results are awaited and no caller reads, or once the socket has been
// left unread for pumpIdle. The reader gives it back as soon as the
// replies it read leave nothing awaited, so that the next sync call reads
// for itself again.

// pumpIdle is how long the socket may stay unread, after a caller's sync
// request gave it back with nothing awaited, before the reader goroutine
// reads it: requests and events from the peer that arrive between a
// client's calls wait at most this long.
const pumpIdle = time.Millisecond

// Holders of the read token.
const (
	readerFree uint8 = iota
	readerCaller
	readerLoop
)

// maxPumpBuf bounds the read buffer of a connection read by its callers: it
// starts at readBufSize and doubles after a read that fills it.
const maxPumpBuf = 1 << 20

// aLongTimeAgo is a read deadline that has passed: it interrupts a Read.
var aLongTimeAgo = time.Unix(1, 0)

// netReader reads a client connection's socket for whichever goroutine
// needs it (see above).
type netReader struct {
	c  *Conn
	nc net.Conn

	mu     sync.Mutex
	holder uint8 // readerFree, readerCaller or readerLoop
	// The reader is on the idle sweeper's list (armed), and when the
	// token was last freed with nothing awaited (freedAt, on the monotonic
	// clock). Guarded by mu. See pumpidle.go.
	armed   bool
	freedAt time.Duration

	// Used by the token's holder only.
	buf      []byte
	deadline bool // a caller may have left a read deadline on nc
	// Reads made by callers and by the reader goroutine (for tests).
	callerReads, loopReads atomic.Uint64

	kick chan struct{} // wakes the reader goroutine (capacity 1)

	// The context whose end interrupts a caller's read (set on its first
	// pump, kept for the next ones: callers usually pass the same one),
	// and how to stop watching it. Guarded by mu.
	watched   context.Context
	stopWatch func() bool
}

// pumpable reports whether the callers of a connection over nc may read nc
// themselves: it needs read deadlines that interrupt a Read and leave the
// stream usable, which TCP and unix sockets have (TLS is left to the
// reader goroutine).
func pumpable(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

func newNetReader(c *Conn, nc net.Conn) *netReader {
	r := &netReader{c: c, nc: nc, kick: make(chan struct{}, 1)}
	r.armed, r.freedAt = true, mono()
	idleSweep.add(r)
	return r
}

func (r *netReader) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// take gives the token to who if it is free.
func (r *netReader) take(who uint8) bool {
	r.mu.Lock()
	ok := r.holder == readerFree
	if ok {
		r.holder = who
	}
	r.mu.Unlock()
	return ok
}

// release frees the token. If results are awaited the reader goroutine
// reads at once; otherwise it reads after pumpIdle unless a caller takes
// the token first.
func (r *netReader) release() {
	awaited := r.c.pending.Len() > 0
	r.mu.Lock()
	r.holder = readerFree
	arm := false
	if !awaited {
		r.freedAt = mono()
		arm = !r.armed
		r.armed = true
	}
	r.mu.Unlock()
	if awaited {
		r.wake()
	} else if arm {
		idleSweep.add(r)
	}
}

// readOnce reads what the socket has and feeds it to the connection. It
// reports false when reading must stop: the connection has ended (and has
// been told why), or the read deadline passed (timedOut). A caller
// (byCaller) has the connection shut down on another goroutine: it may
// hold locks of its own that the shutdown's hooks need.
func (r *netReader) readOnce(byCaller bool) (ok, timedOut bool) {
	if r.buf == nil {
		r.buf = make([]byte, readBufSize)
	}
	n, err := r.nc.Read(r.buf)
	if n > 0 {
		if r.c.Feed(r.buf[:n]) != nil {
			return false, false
		}
		if n == len(r.buf) && n < maxPumpBuf {
			// A full read: more is waiting, likely a large frame. A larger
			// buffer takes the next ones in one read, without the frame
			// decoder joining the parts (a copy).
			r.buf = make([]byte, 2*n)
		}
	}
	if err == nil {
		return true, false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !r.c.closed.Load() {
		return false, true
	}
	if !r.c.closed.Load() {
		if errors.Is(err, net.ErrClosed) {
			err = io.EOF
		}
		if byCaller {
			go r.c.FeedEOF(err)
		} else {
			r.c.FeedEOF(err)
		}
	}
	return false, false
}

// loop is the connection's reader goroutine.
func (r *netReader) loop() {
	c := r.c
	for {
		select {
		case <-r.kick:
		case <-c.done:
			r.unwatch()
			return
		}
		if !r.take(readerLoop) {
			continue // a caller reads; it hands back when it is done
		}
		if r.deadline {
			_ = r.nc.SetReadDeadline(time.Time{})
			r.deadline = false
		}
		for {
			before := c.repliesIn
			r.loopReads.Add(1)
			ok, timedOut := r.readOnce(false)
			if timedOut {
				// A caller's cancelled wait set the deadline late, after
				// handing the socket over: clear it and read on.
				_ = r.nc.SetReadDeadline(time.Time{})
				continue
			}
			if !ok {
				return
			}
			if c.repliesIn != before && c.pending.Len() == 0 {
				// The replies awaited are in: let the next sync call read
				// for itself.
				r.release()
				break
			}
		}
	}
}

// pump reads the socket on the calling goroutine until res completes, the
// deadline (if not zero) passes or ctx ends, provided no other goroutine
// reads it. It reports whether it read; on false, or when res is still
// pending, the caller waits for res as usual.
func (r *netReader) pump(ctx context.Context, res *dispatch.AsyncResult, deadline time.Time) bool {
	r.mu.Lock()
	if r.holder != readerFree {
		r.mu.Unlock()
		return false
	}
	r.holder = readerCaller
	if ctx.Done() != nil && ctx != r.watched {
		// A context's end interrupts the read by moving the deadline. The
		// watch is kept for later calls with the same context (no
		// registration per call); a watch that fires while another
		// context's caller reads only makes that caller wait as usual.
		if r.stopWatch != nil {
			r.stopWatch()
		}
		r.watched = ctx
		r.stopWatch = context.AfterFunc(ctx, func() { _ = r.nc.SetReadDeadline(aLongTimeAgo) })
	}
	r.mu.Unlock()
	if !deadline.IsZero() {
		_ = r.nc.SetReadDeadline(deadline)
		r.deadline = true
	} else if r.deadline {
		_ = r.nc.SetReadDeadline(time.Time{})
		r.deadline = false
	}
	if ctx.Err() != nil {
		r.release()
		return true
	}
	for !res.Ready() {
		r.callerReads.Add(1)
		if ok, _ := r.readOnce(true); !ok {
			break
		}
	}
	r.release()
	return true
}

// unwatch stops watching a caller's context (the connection has ended: the
// context must not keep it reachable).
func (r *netReader) unwatch() {
	r.mu.Lock()
	if r.stopWatch != nil {
		r.stopWatch()
	}
	r.watched, r.stopWatch = nil, nil
	r.mu.Unlock()
}

// reads returns the reads made by callers and by the reader goroutine.
func (r *netReader) reads() (caller, loop uint64) {
	return r.callerReads.Load(), r.loopReads.Load()
}
