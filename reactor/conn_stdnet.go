package reactor

import (
	"errors"
	"net"
	"time"
)

// stdConn is a connection of the stdnet engine. Its reading goroutine runs
// the handler; its writing goroutine sends what Write queued.
type stdConn struct {
	connBase
	e          *stdEngine
	nc         net.Conn
	wake       chan struct{} // wakes the writer; capacity 1
	writerDone chan struct{} // closed when the writer has closed nc
	openDone   chan struct{} // closed when OnOpen has returned
	openErr    error
}

// Engine implements Conn.
func (c *stdConn) Engine() string { return EngineStdnet }

// Write implements Conn.
func (c *stdConn) Write(b []byte) error {
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
	deferred := c.inHandler
	c.mu.Unlock()
	if !deferred {
		c.kick()
	}
	return nil
}

// Close implements Conn.
func (c *stdConn) Close() error {
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.notifyLocked()
	c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.e.cfg.CloseTimeout))
	c.kick()
	return nil
}

func (c *stdConn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// beginHandler reports whether a handler may run (the connection is not
// closing) and marks it running.
func (c *stdConn) beginHandler() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.inHandler = true
	return true
}

// endHandler records the handler's error and wakes the writer for what the
// handler queued.
func (c *stdConn) endHandler(err error) {
	c.mu.Lock()
	c.inHandler = false
	if err != nil {
		c.failLocked(err)
	}
	c.mu.Unlock()
	c.kick()
}

func (c *stdConn) run() {
	defer c.e.st.connDone(c)
	go c.writeLoop()

	c.mu.Lock()
	c.opened = true
	c.inHandler = true
	c.mu.Unlock()
	err := c.h.OnOpen(c)
	c.endHandler(err)
	c.openErr = err
	close(c.openDone)

	if err == nil {
		buf := make([]byte, c.e.cfg.readBufferSize(EngineStdnet))
		for {
			n, rerr := c.nc.Read(buf)
			if n > 0 {
				if !c.beginHandler() {
					break
				}
				herr := c.h.OnData(c, buf[:n])
				c.endHandler(herr)
				if herr != nil {
					break
				}
			}
			if rerr != nil {
				c.mu.Lock()
				c.failLocked(cleanCloseErr(rerr))
				c.mu.Unlock()
				break
			}
		}
	}

	// Let the writer flush (bounded by CloseTimeout) and close the socket.
	c.mu.Lock()
	c.closing = true
	c.notifyLocked()
	c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.e.cfg.CloseTimeout))
	c.kick()
	<-c.writerDone

	c.mu.Lock()
	c.closed = true
	c.q.drop()
	c.notifyLocked()
	err = c.closeErr
	c.mu.Unlock()
	c.h.OnClose(c, err)
}

func (c *stdConn) writeLoop() {
	defer close(c.writerDone)
	defer c.nc.Close()
	for {
		c.mu.Lock()
		p := c.q.take()
		closing := c.closing
		c.mu.Unlock()
		if p == nil {
			if closing {
				return
			}
			<-c.wake
			continue
		}
		_, err := c.nc.Write(*p)
		c.mu.Lock()
		c.q.inflight -= len(*p)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.failLocked(err)
			}
			c.closing = true
			c.q.drop()
		}
		c.notifyLocked()
		c.mu.Unlock()
		putBuf(p)
		if err != nil {
			return
		}
	}
}
