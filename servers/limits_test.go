//go:build linux

package servers

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Limits hit through a running server: each is set small, one connection
// crosses it and gets a clear error (an exception reply, or the connection
// closed with the reason logged), and another connection keeps working.
//
// Covered elsewhere, not repeated here: frame size and decompressed size
// (TestHostileInput: length-over-limit, length-0xFFFFFFFF, zlib-bomb, with
// a well-behaved client served throughout), connections per server
// (TestMaxConns), idle timeout (TestIdleTimeout and
// TestIdleTimeoutSlowAndSilentPeers), bytes queued for a slow reader
// (TestPeerThatDoesNotRead, TestEventsToPeerThatDoesNotRead).

// pyErrClass is the class of a remote exception, "" for another error.
func pyErrClass(err error) string {
	var pe *codec.PyError
	if errors.As(err, &pe) {
		return pe.Class
	}
	return ""
}

// nested is a tuple nested depth levels deep around 1.
func nested(depth int) any {
	var v any = int64(1)
	for range depth {
		v = codec.Tuple{v}
	}
	return v
}

func limitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLimitNestingDepth: with MaxDepth 32, a value nested 16 deep is
// echoed; one nested 64 deep closes that connection, the reason ("nesting
// too deep") is logged, and another connection is served.
func TestLimitNestingDepth(t *testing.T) {
	maxDepth := conn.Option(func(c *conn.Config) { c.MaxDepth = 32 })
	for _, e := range peerEngines {
		t.Run(e, func(t *testing.T) {
			var log logSink // crash_test.go
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithProtocol(maxDepth), WithLogger(zerolog.New(&log))))
			rs := srv.(*reactorServer)
			other := dial(t, srv)
			c := dial(t, srv)
			require.Equal(t, nested(16), call(t, c, "echo", nested(16)))
			_, err := c.Call(limitCtx(t), "echo", nested(64))
			require.Error(t, err, "a value past MaxDepth was served")
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the connection past MaxDepth was not closed")
			}
			require.Equal(t, nested(16), call(t, other, "echo", nested(16)))
			waitConns(t, rs, 1, "the connection past MaxDepth was not released")
			require.Eventually(t, func() bool { return bytes.Contains([]byte(log.String()), []byte("nesting too deep")) },
				5*time.Second, 5*time.Millisecond, "the reason is not logged:\n%s", log.String())
		})
	}
}

// TestLimitInFlight: with MaxInFlight 2, a third request of a connection
// whose two requests run is answered with RuntimeError at once; the
// connection stays usable; another connection runs two of its own; once
// the first two end the connection may run requests again.
func TestLimitInFlight(t *testing.T) {
	for _, e := range peerEngines {
		for _, p := range peerPolicies {
			t.Run(p.name+"/"+e, func(t *testing.T) {
				srv := start(t, p.mk(svc(), WithEngine(e), WithProtocol(conn.WithMaxInFlight(2)), WithLogger(testLogger(t))))
				rs := srv.(*reactorServer)
				pc := dialPausable(t, srv) // a client whose local address is known
				ctx := limitCtx(t)
				root, err := pc.c.Root(ctx)
				require.NoError(t, err)
				se := sessionOf(t, rs, pc.nc.LocalAddr())
				r1, err := root.CallMethodAsync("sleep", 0.5)
				require.NoError(t, err)
				r2, err := root.CallMethodAsync("sleep", 0.5)
				require.NoError(t, err)
				require.Eventually(t, func() bool { return se.c.Load().InFlight() == 2 }, 10*time.Second, time.Millisecond)

				// (sleep: echo never blocks, is served inline and is never
				// in flight.)
				_, err = root.CallMethod(ctx, "sleep", 0.0)
				require.Equal(t, "RuntimeError", pyErrClass(err), "third request in flight: %v", err)
				require.Contains(t, err.Error(), "too many requests in flight")
				require.NoError(t, pc.c.Ping(ctx), "the connection past MaxInFlight is not usable")

				other := dial(t, srv)
				o1, err := callAsync(other, "sleep", 0.1)
				require.NoError(t, err)
				o2, err := callAsync(other, "sleep", 0.1)
				require.NoError(t, err)
				for _, r := range []interface {
					Result(context.Context) (any, error)
				}{o1, o2, r1, r2} {
					_, err := r.Result(ctx)
					require.NoError(t, err)
				}
				require.Eventually(t, func() bool { return se.c.Load().InFlight() == 0 }, 10*time.Second, time.Millisecond)
				v, err := root.CallMethod(ctx, "echo", "again")
				require.NoError(t, err)
				require.Equal(t, "again", v)
			})
		}
	}
}

// TestLimitObjects: with MaxObjects 4 (the root, the Counter class and
// two Counters), a third Counter is refused with MemoryError, the
// connection stays usable, another connection has its own allowance, and
// a released Counter (DEL) makes room again.
func TestLimitObjects(t *testing.T) {
	for _, e := range peerEngines {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithProtocol(conn.WithMaxObjects(4)), WithLogger(testLogger(t))))
			ctx := limitCtx(t)
			counterClass := func(c *conn.Conn) *netref.Proxy {
				root, err := c.Root(ctx)
				require.NoError(t, err)
				v, err := root.GetAttr(ctx, "Counter")
				require.NoError(t, err)
				cls, ok := v.(*netref.Proxy)
				require.True(t, ok, "Counter is %T", v)
				return cls
			}
			c := dial(t, srv)
			cls := counterClass(c)
			var counters []*netref.Proxy
			for range 2 {
				v, err := cls.Call(ctx)
				require.NoError(t, err)
				p, ok := v.(*netref.Proxy)
				require.True(t, ok, "Counter() returned %T", v)
				counters = append(counters, p)
			}
			require.Equal(t, int64(4), call(t, c, "live_objects"))
			_, err := cls.Call(ctx)
			require.Equal(t, "MemoryError", pyErrClass(err), "a fifth object: %v", err)
			require.Contains(t, err.Error(), "too many objects")
			n, err := counters[0].CallMethod(ctx, "incr")
			require.NoError(t, err, "the connection past MaxObjects is not usable")
			require.Equal(t, int64(1), n)

			other := dial(t, srv) // its own allowance
			ocls := counterClass(other)
			for range 2 {
				_, err := ocls.Call(ctx)
				require.NoError(t, err, "the other connection has no allowance of its own")
			}

			require.NoError(t, counters[1].Close()) // DEL
			require.Equal(t, int64(3), call(t, c, "live_objects"))
			_, err = cls.Call(ctx)
			require.NoError(t, err, "a released object did not make room")
		})
	}
}
