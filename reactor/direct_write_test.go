//go:build linux

package reactor_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

// TestHandlerLargeWrites answers every request frame, from the handler, with
// a mix of small and large (16 KiB and more) frames, to a client that reads
// nothing at first: large writes that go straight to the socket (gnet) and
// those queued behind bytes the socket did not take must reach the peer
// whole and in order, on every engine.
func TestHandlerLargeWrites(t *testing.T) {
	const requests = 12 // about 2.4 MB of replies: below MaxQueued
	sizes := []int{10, 16 << 10, 3, 100 << 10, 16<<10 - 1, 70 << 10, 0, 1}
	reply := func(i int) []byte {
		var out []byte
		for k, n := range sizes {
			off := (i*7919 + k*104729) % (len(noise) - n)
			out = appendFrame(out, noise[off:off+n])
		}
		return out
	}
	var want []byte
	for i := range requests {
		want = append(want, reply(i)...)
	}
	for _, name := range engineNames {
		for _, tr := range transports {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{})
				rec := newRecorder()
				n := 0
				rec.onFrame = func(c reactor.Conn, _ []byte) error {
					r := reply(n)
					n++
					for len(r) > 0 {
						f := r[:4+frameLen(r)]
						if err := c.Write(f); err != nil {
							return err
						}
						r = r[len(f):]
					}
					return nil
				}
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
				require.NoError(t, err)
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(30 * time.Second))

				var reqs []byte
				for range requests {
					reqs = appendFrame(reqs, []byte("go"))
				}
				_, err = nc.Write(reqs)
				require.NoError(t, err)
				time.Sleep(50 * time.Millisecond) // let the replies pile up
				got := make([]byte, len(want))
				_, err = io.ReadFull(nc, got)
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, got), "replies differ from what the handler wrote")
			})
		}
	}
}

// TestGnetHandlerLargeWriteDirect checks that on gnet a large write from a
// handler with nothing queued goes to the socket at once (the queue stays
// empty), while a small one is gathered until the handler returns.
func TestGnetHandlerLargeWriteDirect(t *testing.T) {
	e := newEngine(t, reactor.EngineGnet, reactor.Config{})
	rec := newRecorder()
	type queued struct{ small, large int }
	res := make(chan queued, 1)
	large := appendFrame(nil, noise[:32<<10])
	rec.onFrame = func(c reactor.Conn, _ []byte) error {
		var q queued
		if err := c.Write(large); err != nil {
			return err
		}
		q.large = c.Queued()
		if err := c.Write(appendFrame(nil, []byte("small"))); err != nil {
			return err
		}
		q.small = c.Queued()
		res <- q
		return nil
	}
	ln, err := e.Listen("tcp", "127.0.0.1:0", rec)
	require.NoError(t, err)
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Write(appendFrame(nil, []byte("go")))
	require.NoError(t, err)
	q := <-res
	require.Zero(t, q.large, "the large frame went to the socket from the handler")
	require.Equal(t, 4+5, q.small, "the small frame waits for the handler's end")
	want := append(bytes.Clone(large), appendFrame(nil, []byte("small"))...)
	got := make([]byte, len(want))
	_, err = io.ReadFull(nc, got)
	require.NoError(t, err)
	require.Equal(t, want, got)
}
