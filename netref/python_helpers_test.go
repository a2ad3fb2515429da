package netref_test

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
)

// countingConn is a net.Conn that decodes the frames written to it and
// counts the requests by handler code.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	dec    *codec.FrameDecoder
	counts map[int]int
}

func newCountingConn(nc net.Conn) *countingConn {
	return &countingConn{Conn: nc, dec: codec.NewFrameDecoder(codec.DefaultFrameLimits()), counts: map[int]int{}}
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	_ = c.dec.Feed(p, func(payload []byte) error {
		var d codec.Decoder
		msg, _, args, err := d.DecodeMessage(payload, codec.FormatV5)
		if err != nil || msg != codec.MsgRequest {
			return nil
		}
		if t, ok := args.(codec.Tuple); ok && len(t) == 2 {
			if h, ok := codec.ToInt64(t[0]); ok {
				c.counts[int(h)]++
			}
		}
		return nil
	})
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// snapshot returns a copy of the counts and resets them.
func (c *countingConn) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[int]int{}
	return out
}

// dialCounting connects to addr through a countingConn.
func dialCounting(t testing.TB, addr string) (*conn.Conn, *countingConn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	cc := newCountingConn(nc)
	c, err := conn.NewNetConn(cc, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, cc
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	_, err = strconv.Atoi(port)
	require.NoError(t, err)
	return port
}

// startClassic starts rpyc_classic on 127.0.0.1 and returns host:port.
func startClassic(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(pypeer.StartClassic(t)))
}
