package registry_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/registry"
)

// countingBackend is a Backend of its own (the servers take any): it
// counts REGISTERs over a MemoryBackend.
type countingBackend struct {
	*registry.MemoryBackend
	registers atomic.Int64
}

func (b *countingBackend) Register(ctx context.Context, names []string, ep registry.Endpoint, at time.Time) ([]string, error) {
	b.registers.Add(1)
	return b.MemoryBackend.Register(ctx, names, ep, at)
}

// TestRegistrar: registration at once, refreshes on the interval (hooks see
// one join), unregister on Close.
func TestRegistrar(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := &countingBackend{MemoryBackend: registry.NewMemoryBackend()}
			h := newHooks()
			_, rport := startGoServer(t, mode, append(h.options(), registry.WithBackend(b))...)
			c := goClient(mode, rport)
			r := registry.NewRegistrar(c, []string{"Reg", "Reg2"}, 5555,
				registry.WithReregisterInterval(100*time.Millisecond), registry.WithInterface("127.0.0.1"))
			require.NoError(t, r.Start())
			require.Error(t, r.Start())
			ep := registry.Endpoint{Host: "127.0.0.1", Port: 5555}
			h.expect(t, hookEvent{join: true, name: "REG", ep: ep}, hookEvent{join: true, name: "REG2", ep: ep})
			require.Eventually(t, func() bool { return b.registers.Load() >= 4 }, 5*time.Second, 10*time.Millisecond)
			h.none(t, 0) // refreshes are not joins
			require.NoError(t, r.Close())
			h.expect(t,
				hookEvent{name: "REG", ep: ep, reason: registry.Unregistered},
				hookEvent{name: "REG2", ep: ep, reason: registry.Unregistered})
			n := b.registers.Load()
			time.Sleep(250 * time.Millisecond)
			require.Equal(t, n, b.registers.Load(), "registering after Close")
			require.NoError(t, r.Close())
			require.ErrorIs(t, r.Start(), registry.ErrClosed)
		})
	}
}

// TestRegistrarRetries: with no registry yet, the Registrar retries on the
// retry interval and registers once a registry appears on the port.
func TestRegistrarRetries(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	require.NoError(t, pc.Close())

	c := registry.NewUDPClient(registry.WithHost("127.0.0.1"), registry.WithPort(port), registry.WithTimeout(100*time.Millisecond))
	r := registry.NewRegistrar(c, []string{"LATE"}, 6666, registry.WithRetryInterval(50*time.Millisecond))
	require.NoError(t, r.Start())
	t.Cleanup(func() { _ = r.Close() })
	time.Sleep(300 * time.Millisecond)
	require.True(t, r.LastRegistered().IsZero())

	h := newHooks()
	s := registry.NewUDPServer(append(h.options(), registry.WithHost("127.0.0.1"), registry.WithPort(port))...)
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	h.expect(t, hookEvent{join: true, name: "LATE", ep: registry.Endpoint{Host: "127.0.0.1", Port: 6666}})
	require.Eventually(t, func() bool { return !r.LastRegistered().IsZero() }, 5*time.Second, 10*time.Millisecond)
}

// TestUDPClientDefaults: rpyc's defaults and its broadcast rule.
func TestUDPClientDefaults(t *testing.T) {
	t.Parallel()
	c := registry.NewUDPClient()
	require.Equal(t, "255.255.255.255:18811", c.Target())
	require.True(t, c.Broadcast())
	require.False(t, registry.NewUDPClient(registry.WithHost("127.0.0.1")).Broadcast())
	require.True(t, registry.NewUDPClient(registry.WithHost("192.168.1.255")).Broadcast())
	require.False(t, registry.NewUDPClient(registry.WithHost("10.0.2.55")).Broadcast())
	require.False(t, registry.NewUDPClient(registry.WithIPv6(true), registry.WithHost("::1")).Broadcast())
	require.True(t, registry.NewUDPClient(registry.WithHost("127.0.0.1"), registry.WithBroadcast(true)).Broadcast())
}

// TestBroadcastSocketToLoopback: a client with SO_BROADCAST on (the
// default-target socket path) works, aimed at 127.0.0.1.
func TestBroadcastSocketToLoopback(t *testing.T) {
	t.Parallel()
	_, rport := startGoServer(t, "udp")
	c := registry.NewUDPClient(registry.WithHost("127.0.0.1"), registry.WithPort(rport), registry.WithBroadcast(true))
	ctx := testCtx(t)
	ok, err := c.Register(ctx, []string{"B"}, 7777, "")
	require.NoError(t, err)
	require.True(t, ok)
	eps, err := c.Discover(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 7777}}, eps)
}

// TestIPv6: our UDP and TCP servers on ::1; our IPv6 client registers, the
// Python IPv6 UDP client discovers; registrations carry the IPv6 source.
func TestIPv6(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	ctx := testCtx(t)
	s := registry.NewUDPServer(registry.WithIPv6(true), registry.WithHost("::1"), registry.WithPort(0))
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	rport := s.Addr().(*net.UDPAddr).Port
	c := registry.NewUDPClient(registry.WithIPv6(true), registry.WithHost("::1"), registry.WithPort(rport))
	ok, err := c.Register(ctx, []string{"Six"}, 8888, "")
	require.NoError(t, err)
	require.True(t, ok)
	eps, err := c.Discover(ctx, "six")
	require.NoError(t, err)
	require.Equal(t, []registry.Endpoint{{Host: "::1", Port: 8888}}, eps)
	py := startPyClient(t, "udp", rport, "ipv6")
	require.Equal(t, [][2]any{{"::1", 8888}}, py.endpoints("rdiscover", "SIX"))

	// TCP over IPv6, and a dual-stack server ("::", as rpyc_registry -6)
	// that sees an IPv4 peer as ::ffff:127.0.0.1, as Python does.
	ts := registry.NewTCPServer(registry.WithIPv6(true), registry.WithPort(0))
	require.NoError(t, ts.Start())
	t.Cleanup(func() { require.NoError(t, ts.Close()) })
	tport := ts.Addr().(*net.TCPAddr).Port
	for host, want := range map[string]string{"::1": "::1", "127.0.0.1": "::ffff:127.0.0.1"} {
		tc := registry.NewTCPClient(host, registry.WithPort(tport))
		ok, err := tc.Register(ctx, []string{"DUAL" + strconv.Itoa(len(host))}, 9999, "")
		require.NoError(t, err)
		require.True(t, ok)
		eps, err := tc.Discover(ctx, "dual"+strconv.Itoa(len(host)))
		require.NoError(t, err)
		require.Equal(t, []registry.Endpoint{{Host: want, Port: 9999}}, eps, host)
	}
}

// TestMemoryBackendOrder: names in first-appearance order, endpoints oldest
// first, pruning only before the cutoff, a name gone with its last endpoint.
func TestMemoryBackendOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := registry.NewMemoryBackend()
	t0 := time.Unix(1000, 0)
	a, c := registry.Endpoint{Host: "10.0.0.1", Port: 1}, registry.Endpoint{Host: "10.0.0.2", Port: 2}
	j, _ := b.Register(ctx, []string{"X", "Y"}, a, t0)
	require.Equal(t, []string{"X", "Y"}, j)
	j, _ = b.Register(ctx, []string{"X"}, c, t0.Add(time.Second))
	require.Equal(t, []string{"X"}, j)
	j, _ = b.Register(ctx, []string{"X"}, a, t0.Add(2*time.Second)) // refresh: a is now newest
	require.Empty(t, j)
	eps, _ := b.Query(ctx, "X")
	require.Equal(t, []registry.Endpoint{c, a}, eps)
	names, _ := b.List(ctx, "10.0.0.2")
	require.Equal(t, []string{"X"}, names)
	pr, _ := b.Prune(ctx, "X", t0.Add(time.Second)) // c's time equals the cutoff: kept
	require.Empty(t, pr)
	pr, _ = b.Prune(ctx, "X", t0.Add(1500*time.Millisecond))
	require.Equal(t, []registry.Endpoint{c}, pr)
	left, _ := b.Unregister(ctx, a)
	require.Equal(t, []string{"X", "Y"}, left)
	names, _ = b.List(ctx, "")
	require.Empty(t, names)
}
