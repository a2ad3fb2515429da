package reactor

import (
	"context"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Bounds of the delay between two looks at gnet's outbound buffer while it
// holds bytes the peer has not taken (gnet says nothing when it drains).
const (
	gnetDrainMin = time.Millisecond
	gnetDrainMax = 50 * time.Millisecond
)

// directWriteMin is the smallest write a handler makes that goes straight
// to the socket when nothing is queued before it, rather than being gathered
// with the handler's other writes: copying it into the queue costs more than
// the system call it could share.
const directWriteMin = 16 << 10

// gnetConn is a connection of the gnet engine. The loop that owns gc is
// the only writer to the socket: Write queues bytes and, unless a handler
// of the connection runs (which flushes when it returns), schedules one
// flush task on the loop for however many writes arrive before it runs.
//
// Queued bytes are the pending ones plus what sits in gnet's outbound
// buffer. gnet's buffer is unbounded and reports no drain, so while it
// holds bytes a timer looks again on the loop, backing off to 50ms.
type gnetConn struct {
	connBase
	e   *gnetEngine
	srv *gnetServer // nil for client connections

	// Set by open on the loop, under mu. gc's loop is gc.EventLoop().
	gc gnet.Conn
	fd int32 // gc's socket; open until closedByGnet has set closed

	// Guarded by mu.
	flushQueued bool // a gnetFlush task is queued on the loop
	// openFailed is set when OnOpen returned an error, which closeErr
	// holds; adopt reads it after the enrolment.
	openFailed bool
	// drain is the timer of a connection whose peer is slow to take its
	// bytes; nil until the first time gnet holds some.
	drain *gnetDrain
}

// gnetDrain looks again at gnet's outbound buffer while it holds bytes.
type gnetDrain struct {
	timer *time.Timer
	armed bool
	delay time.Duration
}

func newGnetConn(e *gnetEngine, s *gnetServer, h Handler, laddr, raddr net.Addr) *gnetConn {
	c := &gnetConn{e: e, srv: s}
	c.init(h, e.cfg.MaxQueued, laddr, raddr)
	return c
}

// Engine implements Conn.
func (c *gnetConn) Engine() string { return EngineGnet }

// gnetFlush and gnetClose are gnetConn's tasks on its loop.
type (
	gnetFlush gnetConn
	gnetClose gnetConn
)

func (t *gnetFlush) Run(context.Context) error {
	c := (*gnetConn)(t)
	c.mu.Lock()
	c.flushQueued = false
	c.mu.Unlock()
	c.flush()
	return nil
}

func (t *gnetClose) Run(context.Context) error {
	c := (*gnetConn)(t)
	c.flush()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		_ = c.gc.EventLoop().Close(c.gc) // OnClose runs within
	}
	return nil
}

// Write implements Conn.
func (c *gnetConn) Write(b []byte) error {
	if len(b) == 0 {
		return c.closedErr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return ErrClosed
	}
	if (!c.inHandler || len(b) >= directWriteMin) && c.opened && c.q.queued() == 0 {
		// Nothing is queued, taken or in gnet's buffer: write straight to
		// the socket from this goroutine instead of waking the loop (or,
		// from a handler, instead of copying a large frame into the queue
		// to send it when the handler returns: gathering it with later
		// writes would save no system call worth its copy). mu is held,
		// and gnet calls OnClose (closedByGnet, which needs mu) before it
		// closes the descriptor, so the descriptor is this connection's;
		// the loop writes only what the queue holds, and the queue is
		// empty. What the socket does not take is queued.
		n, err := unix.Write(int(c.fd), b)
		if n == len(b) {
			return nil
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			n = 0 // the loop meets the error on its write and closes
		}
		b = b[max(n, 0):]
	}
	if err := c.q.push(b); err != nil {
		return err
	}
	c.scheduleFlushLocked()
	return nil
}

// scheduleFlushLocked queues a flush task unless one is queued or a handler
// runs. The task is queued with mu held: OnClose needs mu, and the loop
// runs every connection's OnClose before gnet closes its poller, so the
// poller is alive here.
func (c *gnetConn) scheduleFlushLocked() {
	if c.inHandler || c.flushQueued || c.gc == nil || c.closed {
		return
	}
	if err := c.gc.EventLoop().Execute(context.Background(), (*gnetFlush)(c)); err != nil {
		c.e.log.Debug().Err(err).Msg("gnet flush task")
		return
	}
	c.flushQueued = true
}

// Close implements Conn.
func (c *gnetConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return nil
	}
	c.closing = true
	c.notifyLocked()
	// A running handler closes the connection when it returns; a
	// connection not yet opened is closed by open.
	if c.inHandler || c.gc == nil {
		return nil
	}
	if err := c.gc.EventLoop().Execute(context.Background(), (*gnetClose)(c)); err != nil {
		c.e.log.Debug().Err(err).Msg("gnet close task")
	}
	return nil
}

// open runs OnOpen on the loop.
func (c *gnetConn) open(gc gnet.Conn) gnet.Action {
	c.mu.Lock()
	c.gc, c.fd = gc, int32(gc.Fd())
	if c.closing { // Engine.Close came first
		c.mu.Unlock()
		return gnet.Close
	}
	c.opened = true
	c.inHandler = true
	c.mu.Unlock()
	err := c.h.OnOpen(c)
	if err != nil {
		c.mu.Lock()
		c.openFailed = true
		c.mu.Unlock()
	}
	return c.endHandler(err)
}

// data runs OnData on the loop.
func (c *gnetConn) data(p []byte) gnet.Action {
	c.mu.Lock()
	if c.closing { // a close task is on its way
		c.mu.Unlock()
		return gnet.None
	}
	c.inHandler = true
	c.mu.Unlock()
	return c.endHandler(c.h.OnData(c, p))
}

// endHandler flushes what the handler queued and tells gnet whether to
// close the connection.
func (c *gnetConn) endHandler(err error) gnet.Action {
	c.mu.Lock()
	c.inHandler = false
	if err != nil {
		c.failLocked(err)
	}
	closing := c.closing
	c.mu.Unlock()
	c.flush()
	if closing {
		return gnet.Close
	}
	return gnet.None
}

// flush writes the pending bytes on the loop and reads back how much gnet
// still holds.
func (c *gnetConn) flush() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	p := c.q.take()
	c.mu.Unlock()
	if p != nil {
		// gnet writes what the socket takes and keeps the rest. On an
		// error it has closed the connection, and OnClose has run.
		_, _ = c.gc.Write(*p)
	}
	c.mu.Lock()
	if !c.closed {
		c.q.inflight = c.gc.OutboundBuffered()
		if c.q.inflight > 0 {
			c.armDrainLocked()
		} else if c.drain != nil {
			c.drain.delay = 0
		}
		c.notifyLocked()
	}
	c.mu.Unlock()
	putBuf(p)
}

// armDrainLocked schedules another look at gnet's outbound buffer.
func (c *gnetConn) armDrainLocked() {
	d := c.drain
	if d == nil {
		d = &gnetDrain{}
		c.drain = d
	}
	if d.armed {
		return
	}
	d.delay = min(max(2*d.delay, gnetDrainMin), gnetDrainMax)
	d.armed = true
	c.e.st.connWG.Add(1) // the connection is tracked until OnClose: safe
	if d.timer == nil {
		d.timer = time.AfterFunc(d.delay, c.drainTick)
	} else {
		d.timer.Reset(d.delay)
	}
}

func (c *gnetConn) drainTick() {
	defer c.e.st.connWG.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drain.armed = false
	c.scheduleFlushLocked()
}

// closedByGnet runs on the loop from gnet's OnClose.
func (c *gnetConn) closedByGnet(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.failLocked(cleanCloseErr(err))
	c.closed = true
	cerr := c.closeErr
	opened := c.opened
	c.q.drop()
	if d := c.drain; d != nil && d.armed && d.timer.Stop() {
		d.armed = false
		c.e.st.connWG.Done()
	}
	c.notifyLocked()
	c.mu.Unlock()
	if opened {
		c.h.OnClose(c, cerr)
	}
	if c.srv != nil {
		c.srv.connClosed()
	}
	c.e.st.connDone(c)
}
