package registry_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/registry"
)

// hookEvent is one call of a join or leave hook.
type hookEvent struct {
	join   bool
	name   string
	ep     registry.Endpoint
	reason registry.LeaveReason
}

// hooks records join and leave events on a channel.
type hooks struct{ ch chan hookEvent }

func newHooks() *hooks { return &hooks{ch: make(chan hookEvent, 128)} }

func (h *hooks) options() []registry.Option {
	return []registry.Option{
		registry.WithOnJoin(func(name string, ep registry.Endpoint) {
			h.ch <- hookEvent{join: true, name: name, ep: ep}
		}),
		registry.WithOnLeave(func(name string, ep registry.Endpoint, r registry.LeaveReason) {
			h.ch <- hookEvent{name: name, ep: ep, reason: r}
		}),
	}
}

// expect waits (bounded) for the given events, in any order.
func (h *hooks) expect(t *testing.T, want ...hookEvent) {
	t.Helper()
	var got []hookEvent
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case e := <-h.ch:
			got = append(got, e)
		case <-deadline:
			require.FailNow(t, "hook events missing", "want %v, got %v", want, got)
		}
	}
	require.ElementsMatch(t, want, got)
}

// none checks that no event arrives for d.
func (h *hooks) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-h.ch:
		require.FailNow(t, "unexpected hook event", "%+v", e)
	case <-time.After(d):
	}
}

// goServer is one of our registry servers started for a test.
type goServer interface {
	Start() error
	Addr() net.Addr
	Close() error
}

func startGoServer(t *testing.T, mode string, opts ...registry.Option) (goServer, int) {
	t.Helper()
	opts = append([]registry.Option{registry.WithHost("127.0.0.1"), registry.WithPort(0)}, opts...)
	var s goServer
	if mode == "udp" {
		s = registry.NewUDPServer(opts...)
	} else {
		s = registry.NewTCPServer(opts...)
	}
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, p, err := net.SplitHostPort(s.Addr().String())
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return s, port
}

// goClient returns our client of mode for the registry on 127.0.0.1:port.
func goClient(mode string, port int, opts ...registry.Option) registry.Client {
	opts = append([]registry.Option{registry.WithPort(port), registry.WithTimeout(time.Second)}, opts...)
	if mode == "udp" {
		return registry.NewUDPClient(append([]registry.Option{registry.WithHost("127.0.0.1")}, opts...)...)
	}
	return registry.NewTCPClient("127.0.0.1", opts...)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGoServerWithPythonPeers: a real Python ThreadedServer registers with
// our registry (UDP and TCP) and real Python clients discover it, list it
// and connect to it; our clients too; closing it unregisters it.
func TestGoServerWithPythonPeers(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := newHooks()
			_, rport := startGoServer(t, mode, append(h.options(), registry.WithListing(true))...)
			py := startPyClient(t, mode, rport)
			srv := startPy(t, "py_server.py", mode, strconv.Itoa(rport), "EchoSvc", "echo_alias")
			sport := srv.port()
			ep := registry.Endpoint{Host: "127.0.0.1", Port: sport}
			h.expect(t, hookEvent{join: true, name: "ECHOSVC", ep: ep}, hookEvent{join: true, name: "ECHO_ALIAS", ep: ep})

			want := [][2]any{{"127.0.0.1", sport}}
			require.Equal(t, want, py.endpoints("discover", "echosvc"))
			require.Equal(t, want, py.endpoints("rdiscover", "ECHO_ALIAS"))
			require.Equal(t, want, py.endpoints("discover", "Echo_Alias"))
			require.Equal(t, []string{"ECHOSVC", "ECHO_ALIAS"}, py.names(nil))
			require.Equal(t, []string{"ECHOSVC", "ECHO_ALIAS"}, py.names("127.0.0.1"))
			require.Empty(t, py.names("10.9.9.9"))
			r := py.do("connect", "echosvc")
			require.Empty(t, r.Error, r.Msg)
			require.JSONEq(t, `"pong"`, string(r.OK))

			c := goClient(mode, rport)
			eps, err := c.Discover(ctx, "echo_alias")
			require.NoError(t, err)
			require.Equal(t, []registry.Endpoint{ep}, eps)
			names, err := c.List(ctx, "")
			require.NoError(t, err)
			require.Equal(t, []string{"ECHOSVC", "ECHO_ALIAS"}, names)
			cn, err := conn.ConnectByService(ctx, c, "EchoSvc")
			require.NoError(t, err)
			pong, err := cn.Call(ctx, "ping")
			require.NoError(t, err)
			require.Equal(t, "pong", pong)
			require.NoError(t, cn.Close())

			srv.closeStdin() // server.close() unregisters
			h.expect(t,
				hookEvent{name: "ECHOSVC", ep: ep, reason: registry.Unregistered},
				hookEvent{name: "ECHO_ALIAS", ep: ep, reason: registry.Unregistered})
			r = py.do("discover", "echosvc")
			require.Equal(t, "DiscoveryError", r.Error)
			eps, err = c.Discover(ctx, "echosvc")
			require.NoError(t, err)
			require.Empty(t, eps)
			_, err = conn.ConnectByService(ctx, c, "echosvc")
			require.ErrorIs(t, err, registry.ErrNotFound)
			require.Empty(t, py.names(nil))
		})
	}
}

// TestGoServerListingDisabled: without listing Python's list_services
// raises ForbiddenError and our List returns ErrListingDisabled.
func TestGoServerListingDisabled(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			_, rport := startGoServer(t, mode)
			py := startPyClient(t, mode, rport)
			r := py.do("list", nil)
			require.Equal(t, "ForbiddenError", r.Error)
			_, err := goClient(mode, rport).List(testCtx(t), "")
			require.ErrorIs(t, err, registry.ErrListingDisabled)
		})
	}
}

// TestGoServerPrunes: a killed Python server is pruned after the pruning
// timeout (on the next QUERY), a live one that keeps re-registering is not.
func TestGoServerPrunes(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testPrunes(t, mode)
		})
	}
}

func testPrunes(t *testing.T, mode string) {
	const pruning = 2500 * time.Millisecond
	h := newHooks()
	_, rport := startGoServer(t, mode, append(h.options(), registry.WithPruningTimeout(pruning))...)
	// Python's register loop wakes every second: interval 1 refreshes
	// about every 1-2 s, well inside the pruning timeout.
	live := startPy(t, "py_server.py", mode, strconv.Itoa(rport), "PruneMe", "", "1")
	dead := startPy(t, "py_server.py", mode, strconv.Itoa(rport), "PruneMe")
	liveEP := registry.Endpoint{Host: "127.0.0.1", Port: live.port()}
	deadEP := registry.Endpoint{Host: "127.0.0.1", Port: dead.port()}
	h.expect(t, hookEvent{join: true, name: "PRUNEME", ep: liveEP}, hookEvent{join: true, name: "PRUNEME", ep: deadEP})
	dead.kill()

	py := startPyClient(t, mode, rport)
	time.Sleep(pruning + 700*time.Millisecond)
	h.none(t, 0) // pruning happens only on QUERY
	require.Equal(t, [][2]any{{"127.0.0.1", liveEP.Port}}, py.endpoints("discover", "pruneme"))
	h.expect(t, hookEvent{name: "PRUNEME", ep: deadEP, reason: registry.Pruned})
	eps, err := goClient(mode, rport).Discover(testCtx(t), "PRUNEME")
	require.NoError(t, err)
	require.Equal(t, []registry.Endpoint{liveEP}, eps)
}
