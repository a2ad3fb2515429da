package servers

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/services"
)

type lazyValue struct{}

func (lazyValue) Echo(x any) any { return x }

type hookedValue struct{ connects *atomic.Int32 }

func (v hookedValue) OnConnect(*conn.Conn) error { v.connects.Add(1); return nil }
func (hookedValue) Echo(x any) any               { return x }

// sessionsWithoutConn counts the server's sessions that have no protocol
// side yet.
func sessionsWithoutConn(rs *reactorServer) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for se := range rs.sessions {
		if se.c.Load() == nil {
			n++
		}
	}
	return n
}

// TestLazyAttach: a service that allows it (services.WithLazyAttach) is
// attached to a connection only when the peer first speaks, on every
// engine; silent connections hold no protocol state, and end cleanly.
func TestLazyAttach(t *testing.T) {
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			var attached atomic.Int32
			svc := services.PerConn(func(*conn.Conn) (lazyValue, error) {
				attached.Add(1)
				return lazyValue{}, nil
			}, services.WithName("LAZY"), services.WithLazyAttach())
			require.True(t, svc.AttachLazily())
			srv := start(t, NewThreadPool(svc, WithEngine(e), WithLogger(testLogger(t))))
			rs := srv.(*reactorServer)

			idle := holdIdle(t, srv, 50)
			require.Eventually(t, func() bool { return sessionsWithoutConn(rs) == 50 }, 5*time.Second, time.Millisecond)
			require.Zero(t, attached.Load(), "a silent connection was attached")

			c := dial(t, srv) // a client sends nothing until its first call
			require.Eventually(t, func() bool { return sessionsWithoutConn(rs) == 51 }, 5*time.Second, time.Millisecond)
			require.Zero(t, attached.Load())
			require.Equal(t, "hello", call(t, c, "echo", "hello"))
			require.EqualValues(t, 1, attached.Load())
			require.Equal(t, 50, sessionsWithoutConn(rs))

			for _, nc := range idle {
				require.NoError(t, nc.Close())
			}
			require.Eventually(t, func() bool { return rs.nconns.Load() == 1 }, 10*time.Second, time.Millisecond,
				"silent connections left: %d", rs.nconns.Load()-1)
			require.Equal(t, "still", call(t, c, "echo", "still"))
			require.EqualValues(t, 1, attached.Load())
		})
	}
}

// TestLazyAttachNotWithConnectHook: a value with an OnConnect hook is
// attached at once even with WithLazyAttach, so the hook runs on connect.
func TestLazyAttachNotWithConnectHook(t *testing.T) {
	var connects atomic.Int32
	svc := services.PerConn(func(*conn.Conn) (hookedValue, error) {
		return hookedValue{connects: &connects}, nil
	}, services.WithName("HOOKED"), services.WithLazyAttach())
	require.False(t, svc.AttachLazily())
	srv := start(t, NewThreadPool(svc, WithLogger(testLogger(t))))
	holdIdle(t, srv, 3)
	require.Eventually(t, func() bool { return connects.Load() == 3 }, 5*time.Second, time.Millisecond,
		"on-connect hooks run: %d of 3", connects.Load())
	require.Zero(t, sessionsWithoutConn(srv.(*reactorServer)))
}
