package conn

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rpycgo/rpycgo/codec"
)

// netTransport writes frames to a net.Conn. One goroutine at a time owns
// the socket for writing; frames handed over meanwhile are appended to a
// pending buffer that the owner writes next, so concurrent replies go out
// batched, several frames per syscall.
type netTransport struct {
	nc   net.Conn
	mu   sync.Mutex
	cond sync.Cond
	busy bool   // a goroutine is writing to nc
	pend []byte // frames waiting for the writer
	next []byte // the writer's spare buffer
	err  error  // the first write error; final
	// perFrame writes every frame with a Write of its own. Over TLS that
	// puts each frame in records of its own: Python's reader waits on
	// select() and reads only the bytes it needs, so a frame left behind in
	// its SSL buffer would never be seen.
	perFrame bool
}

// maxPending bounds the bytes waiting for the socket; a Write beyond it waits
// (back-pressure on the handlers of a peer that does not read).
const maxPending = 4 << 20

func newNetTransport(nc net.Conn) *netTransport {
	_, isTLS := nc.(*tls.Conn)
	t := &netTransport{nc: nc, perFrame: isTLS}
	t.cond.L = &t.mu
	return t
}

// Write writes b, itself when the socket is free (no copy), otherwise by
// queueing a copy behind the current writer. It waits while more than
// maxPending bytes are queued.
func (t *netTransport) Write(b []byte) error {
	t.mu.Lock()
	for t.busy && len(t.pend) > maxPending && t.err == nil {
		t.cond.Wait()
	}
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return err
	}
	if t.busy {
		t.pend = append(t.pend, b...)
		t.mu.Unlock()
		return nil
	}
	t.busy = true
	t.mu.Unlock()
	_, err := t.nc.Write(b)
	return t.drain(err)
}

// Queue queues a copy of b and never waits: if no goroutine is writing, a new
// one takes over the socket.
func (t *netTransport) Queue(b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	t.pend = append(t.pend, b...)
	if !t.busy {
		t.busy = true
		go t.drain(nil) //nolint:errcheck // the error is kept in t.err
	}
	return nil
}

// drain writes what is pending until nothing is, then gives up the socket.
func (t *netTransport) drain(err error) error {
	for {
		t.mu.Lock()
		if err != nil && t.err == nil {
			t.err = err
		}
		if t.err != nil || len(t.pend) == 0 {
			t.busy = false
			t.pend = t.pend[:0]
			err = t.err
			t.cond.Broadcast()
			t.mu.Unlock()
			return err
		}
		buf := t.pend
		t.pend = t.next[:0]
		t.cond.Broadcast()
		t.mu.Unlock()

		err = t.writeFrames(buf)

		t.mu.Lock()
		if cap(buf) <= maxKeptWriteBuf {
			t.next = buf[:0]
		} else {
			t.next = nil
		}
		t.mu.Unlock()
	}
}

// writeFrames writes queued frames, one Write each in perFrame mode.
func (t *netTransport) writeFrames(buf []byte) error {
	if !t.perFrame {
		_, err := t.nc.Write(buf)
		return err
	}
	for len(buf) >= codec.FrameHeaderSize {
		n := codec.FrameHeaderSize + int(binary.BigEndian.Uint32(buf)) + 1
		if n > len(buf) {
			n = len(buf)
		}
		if _, err := t.nc.Write(buf[:n]); err != nil {
			return err
		}
		buf = buf[n:]
	}
	if len(buf) > 0 {
		_, err := t.nc.Write(buf)
		return err
	}
	return nil
}

func (t *netTransport) Close() error {
	t.mu.Lock()
	if t.err == nil {
		t.err = net.ErrClosed
	}
	t.cond.Broadcast()
	t.mu.Unlock()
	return t.nc.Close()
}

func (t *netTransport) RemoteAddr() net.Addr { return t.nc.RemoteAddr() }

// readBufSize is the read chunk of the net.Conn loop (Python's STREAM_CHUNK
// is 64000).
const readBufSize = 64 << 10

// NewNetConn wraps an established net.Conn (TCP, unix socket, TLS, pipe) in a
// connection exposing svc (void when nil) and starts reading it on a
// goroutine of its own. The connection closes when the stream ends.
func NewNetConn(nc net.Conn, svc Service, opts ...Option) (*Conn, error) {
	c, err := New(newNetTransport(nc), svc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if pumpable(nc) {
		c.rd = newNetReader(c, nc)
		go c.rd.loop()
	} else {
		go c.readLoop(nc)
	}
	return c, nil
}

// ServeNetConn serves an accepted net.Conn until it closes, on the calling
// goroutine (a server's per-connection goroutine). It returns why the
// connection ended (nil for a clean close by either side).
func ServeNetConn(nc net.Conn, svc Service, opts ...Option) error {
	c, err := New(newNetTransport(nc), svc, opts...)
	if err != nil {
		nc.Close()
		return err
	}
	c.readLoop(nc)
	<-c.Done()
	if err := c.Err(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrPeerClosed) {
		return err
	}
	return nil
}

func (c *Conn) readLoop(nc net.Conn) {
	buf := make([]byte, readBufSize)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if c.Feed(buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			if c.closed.Load() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				err = io.EOF
			}
			c.FeedEOF(err)
			return
		}
	}
}

// Dial connects to an RPyC server ("tcp", "tcp4", "tcp6" or "unix") and
// returns the client connection. TCP_NODELAY is on (Go's default). The
// client exposes the void service unless WithService is given.
func Dial(ctx context.Context, network, addr string, opts ...Option) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(30 * time.Second)
	}
	cfg := buildConfig(opts)
	return NewNetConn(nc, cfg.Service, opts...)
}

// WithService sets the service a dialled connection exposes to its peer
// (the void service by default).
func WithService(s Service) Option { return func(c *Config) { c.Service = s } }
