package reactor

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// connBase holds what every engine's connection has: the handler, the
// addresses, the user's context value, the send queue and the close state.
//
// Every byte here is paid by each of tens of thousands of idle
// connections: fields used rarely live behind a pointer in the engine's
// connection, and the engine's name is a method of its connection type.
type connBase struct {
	h     Handler
	laddr net.Addr
	raddr net.Addr
	user  atomic.Pointer[any]

	mu sync.Mutex
	q  sendQueue
	// inHandler is set while a handler of this connection runs; writes made
	// meanwhile are flushed together when it returns.
	inHandler bool
	// opened is set when OnOpen is about to run; OnClose runs only then.
	opened bool
	// closing is set once Close was asked for or an error ended the
	// connection: Write is refused from then on.
	closing bool
	// closed is set when the connection is gone and OnClose is due.
	closed bool
	// slot is the connection's index in its engine's list of live
	// connections (engineState.conns), guarded by the engine's mutex.
	slot int32
	// closeErr is the first error that ended the connection, given to
	// OnClose; nil for a clean close.
	closeErr error
	// drained is closed (and cleared) when the queue drops below half of
	// its limit or the connection closes; WaitWritable waits on it.
	drained chan struct{}
}

func (c *connBase) init(h Handler, max int, laddr, raddr net.Addr) {
	c.h = h
	c.q.max = max
	c.laddr = cloneAddr(laddr)
	c.raddr = cloneAddr(raddr)
}

// base gives engineState the connBase of an engine's connection.
func (c *connBase) base() *connBase { return c }

// LocalAddr implements Conn.
func (c *connBase) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements Conn.
func (c *connBase) RemoteAddr() net.Addr { return c.raddr }

// SetContext implements Conn.
func (c *connBase) SetContext(v any) { c.user.Store(&v) }

// Context implements Conn.
func (c *connBase) Context() any {
	if p := c.user.Load(); p != nil {
		return *p
	}
	return nil
}

// Queued implements Conn.
func (c *connBase) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.queued()
}

// WaitWritable implements Conn.
func (c *connBase) WaitWritable(ctx context.Context) error {
	for {
		c.mu.Lock()
		switch {
		case c.closing || c.closed:
			c.mu.Unlock()
			return ErrClosed
		case c.q.queued() < c.q.max/2:
			c.mu.Unlock()
			return nil
		case c.inHandler:
			c.mu.Unlock()
			return ErrInHandler
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closedErr returns ErrClosed once the connection is closing.
func (c *connBase) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return ErrClosed
	}
	return nil
}

// failLocked records err as the reason the connection ends, unless one is
// recorded already or the close was asked for cleanly.
func (c *connBase) failLocked(err error) {
	if err != nil && c.closeErr == nil && !c.closing {
		c.closeErr = err
	}
	c.closing = true
	c.notifyLocked()
}

// notifyLocked wakes WaitWritable callers when the queue has drained below
// half of its limit or the connection is closing.
func (c *connBase) notifyLocked() {
	if c.drained != nil && (c.closing || c.closed || c.q.queued() < c.q.max/2) {
		close(c.drained)
		c.drained = nil
	}
}

// cloneAddr copies the part of an address that the engine that reported
// it may recycle, so that it stays valid after the connection closes: gnet
// gives an IPv6 zone name's bytes back to a pool when it releases a
// connection. An address with nothing recycled (every IPv4 address) is
// kept as it is: copying both addresses of every connection cost 128
// bytes of each idle connection.
func cloneAddr(a net.Addr) net.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a == nil {
			return nil
		}
		if a.Zone == "" {
			return a
		}
		return &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: strings.Clone(a.Zone)}
	case *net.UnixAddr:
		if a == nil {
			return nil
		}
		return &net.UnixAddr{Name: strings.Clone(a.Name), Net: a.Net}
	}
	return a
}
