//go:build linux

package reactor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

var errBoom = errors.New("boom")

// closeServer is an echo server whose frames "bye", "bye-async" and
// "fail" close the connection: from the handler after a reply, from
// another goroutine after a reply, and by the handler's error.
func closeServer() *recorder {
	rec := newRecorder()
	rec.onFrame = func(c reactor.Conn, frame []byte) error {
		switch string(frame[4:]) {
		case "bye":
			if err := c.Write(frame); err != nil {
				return err
			}
			return c.Close()
		case "bye-async":
			go func() {
				_ = c.Write(frame)
				_ = c.Close()
			}()
			return nil
		case "fail":
			return errBoom
		}
		return c.Write(frame)
	}
	return rec
}

// readUntilEOF reads until the peer closes and returns what came.
func readUntilEOF(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, io.EOF) {
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close: %v", err)
	}
	return b
}

// TestOnCloseExactlyOnce closes connections every way there is and checks
// that each gets one OnClose with the right error, and that replies queued
// before a close are sent.
func TestOnCloseExactlyOnce(t *testing.T) {
	for _, name := range engineNames {
		for _, tr := range transports {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{CloseTimeout: 200 * time.Millisecond})
				rec := closeServer()
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				addr := ln.Addr()
				dial := func() net.Conn {
					nc, err := net.Dial(addr.Network(), addr.String())
					require.NoError(t, err)
					t.Cleanup(func() { _ = nc.Close() })
					return nc
				}
				closed := func() (reactor.Conn, error) {
					select {
					case c := <-rec.closedCh:
						rec.mu.Lock()
						defer rec.mu.Unlock()
						return c, rec.closeErr[c]
					case <-time.After(10 * time.Second):
						t.Fatal("no OnClose")
						return nil, nil
					}
				}

				t.Run("peer closes", func(t *testing.T) {
					nc := dial()
					hello := appendFrame(nil, []byte("hello"))
					_, err := nc.Write(hello)
					require.NoError(t, err)
					got := make([]byte, len(hello))
					_, err = io.ReadFull(nc, got)
					require.NoError(t, err)
					require.NoError(t, nc.Close())
					_, err = closed()
					require.NoError(t, err, "a peer's orderly close is clean")
				})

				for _, bye := range []string{"bye", "bye-async"} {
					t.Run("local close after reply: "+bye, func(t *testing.T) {
						nc := dial()
						msg := appendFrame(appendFrame(nil, []byte("first")), []byte(bye))
						_, err := nc.Write(msg)
						require.NoError(t, err)
						require.Equal(t, msg, readUntilEOF(t, nc), "replies queued before Close are sent")
						c, err := closed()
						require.NoError(t, err)
						require.ErrorIs(t, c.Write([]byte("x")), reactor.ErrClosed)
						require.NoError(t, c.Close(), "Close is idempotent")
					})
				}

				t.Run("handler error", func(t *testing.T) {
					nc := dial()
					_, err := nc.Write(appendFrame(nil, []byte("fail")))
					require.NoError(t, err)
					readUntilEOF(t, nc)
					_, err = closed()
					require.ErrorIs(t, err, errBoom)
				})

				t.Run("OnOpen error", func(t *testing.T) {
					cli := newRecorder()
					cli.openErr = errBoom
					c, err := e.Dial(context.Background(), tr.network, addr.String(), cli)
					require.ErrorIs(t, err, errBoom)
					require.Nil(t, c)
					select {
					case <-cli.closedCh:
					case <-time.After(10 * time.Second):
						t.Fatal("no OnClose after a failed OnOpen")
					}
					cli.requireClosedOnce(t)
					_, err = closed() // the server's side
					require.NoError(t, err)
				})

				t.Run("engine close", func(t *testing.T) {
					before, _ := rec.counts()
					var peers []net.Conn
					for range 5 {
						nc := dial()
						_, err := nc.Write(appendFrame(nil, []byte("x")))
						require.NoError(t, err)
						got := make([]byte, 5)
						_, err = io.ReadFull(nc, got)
						require.NoError(t, err)
						peers = append(peers, nc)
					}
					cli := newRecorder()
					for range 3 {
						c, err := e.Dial(context.Background(), tr.network, addr.String(), cli)
						require.NoError(t, err)
						require.NoError(t, c.Write(appendFrame(nil, []byte("y"))))
					}
					eventually(t, 10*time.Second, func() bool { o, _ := rec.counts(); return o == before+5+3 },
						"server sees every connection")
					start := time.Now()
					require.NoError(t, e.Close())
					require.Less(t, time.Since(start), 5*time.Second)
					require.NoError(t, e.Close(), "Close is idempotent")
					rec.requireClosedOnce(t)
					cli.requireClosedOnce(t)
					for _, nc := range peers {
						readUntilEOF(t, nc)
					}
					_, err := e.Listen(tr.network, tr.addr(t), rec)
					require.ErrorIs(t, err, reactor.ErrEngineClosed)
					_, err = e.Dial(context.Background(), tr.network, addr.String(), cli)
					require.ErrorIs(t, err, reactor.ErrEngineClosed)
				})
			})
		}
	}
}

// TestListenerCloseKeepsConnections closes a listener: its open
// connections go on, and no new one reaches the handler.
func TestListenerCloseKeepsConnections(t *testing.T) {
	for _, name := range engineNames {
		for _, tr := range []transport{transports[0], transports[2]} {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{})
				rec := newRecorder()
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				addr := ln.Addr()
				nc, err := net.Dial(addr.Network(), addr.String())
				require.NoError(t, err)
				defer nc.Close()
				frame := appendFrame(nil, []byte("still here"))
				roundTrip := func() {
					_, err := nc.Write(frame)
					require.NoError(t, err)
					got := make([]byte, len(frame))
					_, err = io.ReadFull(nc, got)
					require.NoError(t, err)
					require.Equal(t, frame, got)
				}
				roundTrip()
				require.NoError(t, ln.Close())
				require.NoError(t, ln.Close())
				roundTrip()

				// gnet and netpoll keep the socket until the last
				// connection closes and close what they accept meanwhile;
				// stdnet's socket is gone.
				if late, err := net.DialTimeout(addr.Network(), addr.String(), 2*time.Second); err == nil {
					readUntilEOF(t, late)
					_ = late.Close()
				}
				opens, _ := rec.counts()
				require.Equal(t, 1, opens, "no connection reaches the handler after Listener.Close")
				roundTrip()
				require.NoError(t, nc.Close())
				rec.requireClosedOnce(t)
			})
		}
	}
}
