package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/reactor"
)

// rawEcho is the raw echo server's handler: every whole request frame is
// answered with a canned reply frame whose body has the same size. It knows
// nothing of RPyC beyond the framing, so it is the ceiling of the machine
// and the engine for this traffic.
type rawEcho struct {
	replies sync.Map // body size -> canned frame
}

func (h *rawEcho) reply(n int) []byte {
	if f, ok := h.replies.Load(n); ok {
		return f.([]byte)
	}
	f := make([]byte, codec.FrameHeaderSize+n+1)
	binary.BigEndian.PutUint32(f, uint32(n))
	f[len(f)-1] = codec.FrameTrailer
	h.replies.Store(n, f)
	return f
}

func (h *rawEcho) OnOpen(c reactor.Conn) error {
	c.SetContext(codec.NewFrameDecoder(codec.FrameLimits{}))
	return nil
}

func (h *rawEcho) OnData(c reactor.Conn, p []byte) error {
	dec := c.Context().(*codec.FrameDecoder)
	return dec.Feed(p, func(payload []byte) error {
		return c.Write(h.reply(len(payload)))
	})
}

func (h *rawEcho) OnClose(reactor.Conn, error) {}

// ServeRawEcho runs a raw echo server on engine at addr (host:port, port 0
// for any) until ctx ends. It writes the bound port and a newline to ready
// once listening.
func ServeRawEcho(ctx context.Context, engine, addr string, ready io.Writer) error {
	eng, err := reactor.New(engine, reactor.Config{ReuseAddr: true})
	if err != nil {
		return err
	}
	defer eng.Close()
	ln, err := eng.Listen("tcp", addr, &rawEcho{})
	if err != nil {
		return err
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && ready != nil {
		fmt.Fprintln(ready, ta.Port)
	}
	<-ctx.Done()
	return nil
}

// rawConn is the raw client's end of one connection: it sends a request
// frame and reads whole reply frames.
type rawConn struct {
	nc    net.Conn
	dec   *codec.FrameDecoder
	buf   []byte
	frame []byte
}

func dialRaw(ctx context.Context, addr string, p Payload) (*rawConn, error) {
	nc, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{nc: nc, dec: codec.NewFrameDecoder(codec.FrameLimits{}),
		buf: make([]byte, 64<<10), frame: RawRequestFrame(p, 1)}, nil
}

// send writes one request frame.
func (r *rawConn) send() error {
	_, err := r.nc.Write(r.frame)
	return err
}

// recv reads until at least one reply frame has arrived and returns how
// many did.
func (r *rawConn) recv() (int, error) {
	for {
		n, err := r.nc.Read(r.buf)
		if n > 0 {
			got := 0
			if ferr := r.dec.Feed(r.buf[:n], func([]byte) error { got++; return nil }); ferr != nil {
				return got, ferr
			}
			if got > 0 {
				return got, nil
			}
		}
		if err != nil {
			return 0, err
		}
	}
}

func (r *rawConn) Close() error { return r.nc.Close() }

// dialTCP connects to addr on loopback with TCP_NODELAY.
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return nc, nil
}
