package reactor

import (
	"net"

	"github.com/cloudwego/netpoll"
)

// Who holds an npConn's right to write to its socket.
const (
	npWriterNone    = iota
	npWriterRaw     // a goroutine writing with non-blocking write(2)
	npWriterFlusher // a flusher goroutine blocked in netpoll's Flush
)

// npRawRounds bounds how many batches a goroutine writes for others before
// it hands the rest to a flusher goroutine.
const npRawRounds = 4

// npConn is a connection of the netpoll engine.
//
// netpoll's Flush blocks until the peer has taken every byte, so it must
// not run on a handler's goroutine: a handler blocked on a peer that does
// not read would let netpoll buffer that peer's requests without bound.
// Writes therefore go to the socket with non-blocking write(2), from the
// goroutine that ends a handler or from the writing goroutine itself; only
// the bytes the socket refuses go to netpoll's writer, from a flusher
// goroutine that lives while the peer is slow. One writer at a time holds
// the right to write (npWriter*), which keeps frames in order.
//
// The descriptor stays open while a writer holds that right: the
// connection's close callback, which netpoll runs before the one that
// closes the descriptor, waits for the writer to let go.
type npConn struct {
	connBase
	e   *npEngine
	srv *npServer // nil for dialled and adopted connections
	nc  netpoll.Connection
	fd  int

	// Guarded by mu.
	writer       int
	writerIdle   chan struct{} // closed when writer returns to npWriterNone
	closeStarted bool          // nc.Close has been or is being called
}

func newNpConn(e *npEngine, s *npServer, h Handler, nc netpoll.Connection, fd int, laddr, raddr net.Addr) *npConn {
	c := &npConn{e: e, srv: s, nc: nc, fd: fd}
	c.init(h, e.cfg.MaxQueued, laddr, raddr)
	return c
}

// Engine implements Conn.
func (c *npConn) Engine() string { return EngineNetpoll }

// Write implements Conn.
func (c *npConn) Write(b []byte) error {
	if len(b) == 0 {
		return c.closedErr()
	}
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if err := c.q.push(b); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.inHandler || c.writer != npWriterNone {
		// The handler's end, or the writer at work, sends it.
		c.mu.Unlock()
		return nil
	}
	c.writer = npWriterRaw
	c.mu.Unlock()
	c.drain(false)
	return nil
}

// Close implements Conn.
func (c *npConn) Close() error {
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.notifyLocked()
	c.mu.Unlock()
	c.kick(false)
	return nil
}

// open runs OnOpen for a server connection (netpoll's OnConnect).
func (c *npConn) open() {
	c.mu.Lock()
	if c.closing || c.closed { // Engine.Close came first
		c.mu.Unlock()
		return
	}
	c.opened = true
	c.inHandler = true
	c.mu.Unlock()
	c.endHandler(c.h.OnOpen(c))
}

// request drains netpoll's input into one OnData call (netpoll's
// OnRequest must consume its input).
func (c *npConn) request() {
	r := c.nc.Reader()
	n := r.Len()
	if n == 0 {
		return
	}
	p, err := r.Next(n)
	if err != nil {
		_ = r.Release()
		c.mu.Lock()
		c.failLocked(err)
		c.mu.Unlock()
		c.kick(true)
		return
	}
	c.mu.Lock()
	run := !c.closing && !c.closed
	c.inHandler = run
	c.mu.Unlock()
	var herr error
	if run {
		herr = c.h.OnData(c, p)
	}
	_ = r.Release()
	if run {
		c.endHandler(herr)
	}
}

// endHandler records the handler's error and sends what it queued, on the
// handler's goroutine (netpoll defers close callbacks until it returns).
func (c *npConn) endHandler(err error) {
	c.mu.Lock()
	c.inHandler = false
	if err != nil {
		c.failLocked(err)
	}
	c.mu.Unlock()
	c.kick(true)
}

// kick takes the right to write if it is free and sends what is pending,
// or starts the close that is due. A running handler kicks when it
// returns, and a raw writer closes when it is done; a flusher waits for a
// peer that may never read, so a due close does not wait for it.
func (c *npConn) kick(onHandler bool) {
	c.mu.Lock()
	if c.closed || c.inHandler || c.writer == npWriterRaw {
		c.mu.Unlock()
		return
	}
	if c.writer == npWriterFlusher || c.q.pending == nil {
		start := c.closing && !c.closeStarted
		c.closeStarted = c.closeStarted || start
		c.mu.Unlock()
		if start {
			c.startClose(onHandler)
		}
		return
	}
	c.writer = npWriterRaw
	c.mu.Unlock()
	c.drain(onHandler)
}

// drain writes pending batches with non-blocking writes while the socket
// takes them. The caller holds the right to write (npWriterRaw).
func (c *npConn) drain(onHandler bool) {
	for round := 0; ; round++ {
		c.mu.Lock()
		if c.closed {
			c.releaseWriterLocked()
			c.mu.Unlock()
			return
		}
		p := c.q.take()
		if p == nil {
			c.releaseWriterLocked()
			start := c.closing && !c.inHandler && !c.closeStarted
			c.closeStarted = c.closeStarted || start
			c.mu.Unlock()
			if start {
				c.startClose(onHandler)
			}
			return
		}
		if round == npRawRounds {
			c.writer = npWriterFlusher
			c.mu.Unlock()
			c.e.st.goForConn(func() { c.flushLoop(p, 0) })
			return
		}
		c.mu.Unlock()

		n, err := writeNonblock(c.fd, *p)
		if err != nil {
			c.writeFailed(p, len(*p), err, onHandler)
			return
		}
		c.mu.Lock()
		c.q.inflight -= n
		c.notifyLocked()
		if n < len(*p) {
			// The socket is full: netpoll's writer waits for it.
			c.writer = npWriterFlusher
			c.mu.Unlock()
			c.e.st.goForConn(func() { c.flushLoop(p, n) })
			return
		}
		c.mu.Unlock()
		putBuf(p)
	}
}

// flushLoop sends through netpoll's writer, whose Flush waits until the
// peer takes the bytes, then keeps sending whatever was queued meanwhile.
// It runs on a goroutine of its own holding npWriterFlusher.
func (c *npConn) flushLoop(p *[]byte, off int) {
	for {
		rest := len(*p) - off
		w := c.nc.Writer()
		buf, err := w.Malloc(rest)
		if err == nil {
			copy(buf, (*p)[off:])
			err = w.Flush()
		}
		if err != nil {
			c.writeFailed(p, rest, err, false)
			return
		}
		c.mu.Lock()
		c.q.inflight -= rest
		c.notifyLocked()
		putBuf(p)
		if c.closed {
			c.releaseWriterLocked()
			c.mu.Unlock()
			return
		}
		p, off = c.q.take(), 0
		if p == nil {
			c.releaseWriterLocked()
			start := c.closing && !c.inHandler && !c.closeStarted
			c.closeStarted = c.closeStarted || start
			c.mu.Unlock()
			if start {
				c.startClose(false)
			}
			return
		}
		c.mu.Unlock()
	}
}

// writeFailed ends the connection after a write error. p (with unsent
// bytes still counted inflight) is dropped, not pooled: netpoll may hold it.
func (c *npConn) writeFailed(_ *[]byte, unsent int, err error, onHandler bool) {
	c.mu.Lock()
	c.q.inflight -= unsent
	c.failLocked(err)
	c.q.drop()
	c.releaseWriterLocked()
	start := !c.closed && !c.closeStarted
	c.closeStarted = true
	c.mu.Unlock()
	if start {
		c.startClose(onHandler)
	}
}

func (c *npConn) releaseWriterLocked() {
	c.writer = npWriterNone
	if c.writerIdle != nil {
		close(c.writerIdle)
		c.writerIdle = nil
	}
}

// startClose closes the netpoll connection. On a handler's goroutine
// netpoll runs the close callbacks when the handler returns; elsewhere the
// close runs on a goroutine of its own, so that OnClose never runs inside
// a caller's Close or Write.
func (c *npConn) startClose(onHandler bool) {
	if onHandler {
		_ = c.nc.Close()
		return
	}
	c.e.st.goForConn(func() { _ = c.nc.Close() })
}

// closedByNetpoll is the connection's close callback. netpoll runs it once,
// never beside OnConnect or OnRequest, and before the callback that closes
// the descriptor.
func (c *npConn) closedByNetpoll(netpoll.Connection) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.closing = true
	c.closeStarted = true
	for c.writer != npWriterNone {
		if c.writerIdle == nil {
			c.writerIdle = make(chan struct{})
		}
		ch := c.writerIdle
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	c.q.drop()
	c.notifyLocked()
	opened, err := c.opened, c.closeErr
	c.mu.Unlock()
	if opened {
		c.h.OnClose(c, err)
	}
	if c.srv != nil {
		c.srv.connClosed()
	}
	c.e.st.connDone(c)
	return nil
}
