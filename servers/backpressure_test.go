package servers

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

// pausableClient is an RPyC client whose reading can be stopped: a peer
// that does not read its replies.
type pausableClient struct {
	nc     net.Conn
	c      *conn.Conn
	paused atomic.Bool
}

type netWriter struct{ nc net.Conn }

func (w netWriter) Write(b []byte) error { _, err := w.nc.Write(b); return err }
func (w netWriter) Close() error         { return w.nc.Close() }

func dialPausable(t *testing.T, srv Server) *pausableClient {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	p := &pausableClient{nc: nc}
	p.c, err = conn.New(netWriter{nc}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			for p.paused.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			n, err := nc.Read(buf)
			if n > 0 && p.c.Feed(buf[:n]) != nil {
				return
			}
			if err != nil {
				p.c.FeedEOF(err)
				return
			}
		}
	}()
	return p
}

// TestPeerThatDoesNotRead: a client that asks for megabytes and stops
// reading fills its bounded send queue; the server closes that connection
// (after the write timeout) instead of buffering without bound, and serves
// the others meanwhile.
func TestPeerThatDoesNotRead(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithMaxQueued(256<<10),
				WithWriteTimeout(300*time.Millisecond), WithProtocol(noCompress), WithLogger(testLogger(t))))
			p := dialPausable(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			root, err := p.c.Root(ctx)
			require.NoError(t, err)
			p.paused.Store(true)
			for range 40 {
				_, err := root.CallMethodAsync("blob", int64(1<<20))
				if err != nil {
					break
				}
			}
			other := dial(t, srv)
			require.Equal(t, "ok", call(t, other, "echo", "ok"))
			rs := srv.(*reactorServer)
			require.Eventually(t, func() bool { return rs.nconns.Load() == 1 }, 20*time.Second, 20*time.Millisecond,
				"the connection that does not read is still open")
			require.Equal(t, "still ok", call(t, other, "echo", "still ok"))
		})
	}
}
