package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// netTransport writes frames to a net.Conn.
type netTransport struct{ nc net.Conn }

func (t netTransport) Write(b []byte) error { _, err := t.nc.Write(b); return err }
func (t netTransport) Close() error         { return t.nc.Close() }
func (t netTransport) RemoteAddr() net.Addr { return t.nc.RemoteAddr() }

// readBufSize is the read chunk of the net.Conn loop (Python's STREAM_CHUNK
// is 64000).
const readBufSize = 64 << 10

// NewNetConn wraps an established net.Conn (TCP, unix socket, TLS, pipe) in a
// connection exposing svc (void when nil) and starts reading it on a
// goroutine of its own. The connection closes when the stream ends.
func NewNetConn(nc net.Conn, svc Service, opts ...Option) (*Conn, error) {
	c, err := New(netTransport{nc}, svc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop(nc)
	return c, nil
}

// ServeNetConn serves an accepted net.Conn until it closes, on the calling
// goroutine (a server's per-connection goroutine). It returns why the
// connection ended (nil for a clean close by either side).
func ServeNetConn(nc net.Conn, svc Service, opts ...Option) error {
	c, err := New(netTransport{nc}, svc, opts...)
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
