//go:build linux

package reactor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

// TestEngineCloseLeavesNoGoroutines uses an engine every way (listeners
// on TCP and a unix socket, a served listener, dialled connections, a
// connection whose peer does not read) and checks that Close returns
// promptly, closes everything once, and leaves no goroutine behind.
func TestEngineCloseLeavesNoGoroutines(t *testing.T) {
	warmUp(t)
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			time.Sleep(50 * time.Millisecond) // let earlier tests' goroutines go
			base := goroutines()

			e, err := reactor.New(name, reactor.Config{MaxQueued: 256 << 10, CloseTimeout: 200 * time.Millisecond})
			require.NoError(t, err)
			rec := newRecorder()
			stuck := make(chan reactor.Conn, 1)
			rec.onFrame = func(c reactor.Conn, frame []byte) error {
				if string(frame[4:]) == "flood" {
					stuck <- c
					return nil
				}
				return c.Write(frame)
			}
			tcp, err := e.Listen("tcp4", "127.0.0.1:0", rec)
			require.NoError(t, err)
			unix, err := e.Listen("unix", filepath.Join(t.TempDir(), "g.sock"), rec)
			require.NoError(t, err)
			plain, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			served, err := e.Serve(plain, rec)
			require.NoError(t, err)

			var peers []net.Conn
			defer func() {
				for _, nc := range peers {
					_ = nc.Close()
				}
			}()
			frame := appendFrame(nil, []byte("ping"))
			for _, ln := range []reactor.Listener{tcp, unix, served} {
				for range 4 {
					nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
					require.NoError(t, err)
					peers = append(peers, nc)
					_, err = nc.Write(frame)
					require.NoError(t, err)
					got := make([]byte, len(frame))
					_, err = io.ReadFull(nc, got)
					require.NoError(t, err)
				}
			}
			cli := newRecorder()
			for _, ln := range []reactor.Listener{tcp, unix} {
				for range 3 {
					c, err := e.Dial(context.Background(), ln.Addr().Network(), ln.Addr().String(), cli)
					require.NoError(t, err)
					require.NoError(t, c.Write(frame))
				}
			}
			// A connection whose peer never reads, its queue full.
			nc, err := net.Dial("tcp4", tcp.Addr().String())
			require.NoError(t, err)
			peers = append(peers, nc)
			_, err = nc.Write(appendFrame(nil, []byte("flood")))
			require.NoError(t, err)
			c := <-stuck
			big := appendFrame(nil, make([]byte, 64<<10))
			for i := 0; i < 1000; i++ {
				if err := c.Write(big); errors.Is(err, reactor.ErrQueueFull) {
					break
				}
			}
			require.Greater(t, c.Queued(), 0)
			eventually(t, 10*time.Second, func() bool { o, _ := rec.counts(); return o == 12+6+1 }, "all connections open")

			start := time.Now()
			require.NoError(t, e.Close())
			require.Less(t, time.Since(start), 5*time.Second, "Close returns promptly")
			rec.requireClosedOnce(t)
			cli.requireClosedOnce(t)
			requireGoroutinesAtMost(t, base, 5*time.Second, "after Engine.Close")
		})
	}
}

// TestIdleConnectionsHoldNoGoroutines opens 2,000 idle connections to a
// gnet and a netpoll listener: the process's goroutines must not grow with
// them, and the server must still answer. stdnet, a goroutine pair per
// connection, is the control that shows the count would see it.
func TestIdleConnectionsHoldNoGoroutines(t *testing.T) {
	const idle = 2000
	warmUp(t)
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{})
			rec := newRecorder()
			ln, err := e.Listen("tcp4", "127.0.0.1:0", rec)
			require.NoError(t, err)
			addr := ln.Addr().String()
			frame := appendFrame(nil, []byte("are you there?"))
			echoOn := func(nc net.Conn) {
				t.Helper()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				_, err := nc.Write(frame)
				require.NoError(t, err)
				got := make([]byte, len(frame))
				_, err = io.ReadFull(nc, got)
				require.NoError(t, err)
				require.Equal(t, frame, got)
			}
			first, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			defer first.Close()
			echoOn(first)
			time.Sleep(50 * time.Millisecond)
			base := goroutines()

			conns := make([]net.Conn, 0, idle)
			defer func() {
				for _, nc := range conns {
					_ = nc.Close()
				}
			}()
			for range idle {
				nc, err := net.Dial("tcp4", addr)
				require.NoError(t, err)
				conns = append(conns, nc)
			}
			eventually(t, 20*time.Second, func() bool { o, _ := rec.counts(); return o == idle+1 },
				"the server opens every connection")

			if name == reactor.EngineStdnet {
				require.GreaterOrEqual(t, goroutines()-base, idle, "stdnet: a goroutine per connection")
			} else {
				requireGoroutinesAtMost(t, base+16, 5*time.Second, "2,000 idle connections")
			}
			t.Logf("%s: %d goroutines with %d idle connections (%+d)", name, goroutines(), idle, goroutines()-base)

			echoOn(conns[0])
			echoOn(conns[idle-1])
			fresh, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			defer fresh.Close()
			echoOn(fresh)
		})
	}
}
