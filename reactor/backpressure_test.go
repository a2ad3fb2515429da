//go:build linux

package reactor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

// TestQueueFull writes from the server to a client that never reads:
// Write returns ErrQueueFull with the queue bounded, WaitWritable waits
// while the client does not read and returns once it does.
func TestQueueFull(t *testing.T) {
	const maxQueued = 1 << 20
	frame := appendFrame(nil, make([]byte, 64<<10))
	for _, name := range engineNames {
		for _, tr := range transports {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{MaxQueued: maxQueued, CloseTimeout: 200 * time.Millisecond})
				rec := newRecorder()
				opened := make(chan reactor.Conn, 1)
				rec.onOpen = func(c reactor.Conn) { opened <- c }
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
				require.NoError(t, err)
				defer nc.Close()
				c := <-opened

				// Write until the queue stays full: at first the socket's
				// buffers still take what the writer queues.
				full, stable := false, 0
				deadline := time.Now().Add(20 * time.Second)
				for i := 0; i < 100000 && stable < 3 && time.Now().Before(deadline); i++ {
					err := c.Write(frame)
					if errors.Is(err, reactor.ErrQueueFull) {
						full = true
						time.Sleep(20 * time.Millisecond)
						if c.Queued() >= maxQueued/2 {
							stable++
						} else {
							stable = 0
						}
						continue
					}
					stable = 0
					require.NoError(t, err)
					require.LessOrEqual(t, c.Queued(), maxQueued+len(frame), "the queue is bounded")
				}
				require.True(t, full, "Write returns ErrQueueFull when the peer does not read")
				require.Equal(t, 3, stable, "the queue stays full while the peer does not read")
				require.LessOrEqual(t, c.Queued(), maxQueued+len(frame))

				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				require.ErrorIs(t, c.WaitWritable(ctx), context.DeadlineExceeded)
				cancel()

				var read atomic.Int64
				go func() {
					n, _ := io.Copy(io.Discard, nc)
					read.Add(n)
				}()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				require.NoError(t, c.WaitWritable(ctx), "the queue drains once the peer reads")
				require.NoError(t, c.Write(frame))
				require.NoError(t, c.Close())
				require.ErrorIs(t, c.WaitWritable(ctx), reactor.ErrClosed)
				rec.requireClosedOnce(t)
			})
		}
	}
}

// TestPeerThatDoesNotRead sends requests to the echo server without ever
// reading the replies: the server's queue fills, the echo handler's Write
// fails with ErrQueueFull and the connection is closed, instead of the
// server buffering replies without bound.
func TestPeerThatDoesNotRead(t *testing.T) {
	const maxQueued = 512 << 10
	frame := appendFrame(nil, make([]byte, 32<<10))
	for _, name := range engineNames {
		for _, tr := range transports {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{MaxQueued: maxQueued, CloseTimeout: 200 * time.Millisecond})
				rec := newRecorder()
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
				require.NoError(t, err)
				defer nc.Close()

				// Send until the server gives up on us (bounded: 2 GiB
				// or 20 seconds).
				_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
				for i := 0; i < 64<<10; i++ {
					if _, err := nc.Write(frame); err != nil {
						break
					}
					if i%64 == 0 {
						if _, closed := rec.counts(); closed == 1 {
							break
						}
					}
				}
				select {
				case c := <-rec.closedCh:
					rec.mu.Lock()
					err := rec.closeErr[c]
					rec.mu.Unlock()
					require.ErrorIs(t, err, reactor.ErrQueueFull)
				case <-time.After(20 * time.Second):
					t.Fatal("the server kept a connection whose peer does not read")
				}
			})
		}
	}
}

// TestWaitWritableInHandler: a handler that fills its own queue and then
// waits would stop the loop that drains it, so WaitWritable refuses.
func TestWaitWritableInHandler(t *testing.T) {
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{MaxQueued: 256 << 10})
			rec := newRecorder()
			result := make(chan error, 1)
			big := appendFrame(nil, make([]byte, 16<<10))
			rec.onFrame = func(c reactor.Conn, _ []byte) error {
				var err error
				for i := 0; i < 1000 && err == nil; i++ {
					err = c.Write(big)
				}
				if !errors.Is(err, reactor.ErrQueueFull) {
					result <- err
					return nil
				}
				result <- c.WaitWritable(context.Background())
				return nil
			}
			ln, err := e.Listen("tcp4", "127.0.0.1:0", rec)
			require.NoError(t, err)
			nc, err := net.Dial("tcp4", ln.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			_, err = nc.Write(appendFrame(nil, []byte("go")))
			require.NoError(t, err)
			select {
			case err := <-result:
				require.ErrorIs(t, err, reactor.ErrInHandler)
			case <-time.After(10 * time.Second):
				t.Fatal("WaitWritable blocked in the handler")
			}
		})
	}
}
