package servers

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/rpycgo/rpycgo/reactor"
)

// idleHeapBound is the most heap an idle connection may cost the default
// server (thread pool on gnet), gnet's own connection included: about 750
// bytes now. The benchmark's bar is 1 KiB of RSS a connection, which also
// pays for the runtime's slack on top of the live heap.
const idleHeapBound = 800

// TestIdleConnectionHeap opens idleConns connections that never speak to
// the default server and bounds the heap each one costs it. The clients
// are bare sockets, which cost this process's heap nothing.
func TestIdleConnectionHeap(t *testing.T) {
	const idleConns = 2000
	srv := start(t, NewThreadPool(svc(), WithEngine(reactor.EngineGnet), WithLogger(testLogger(t))))
	rs := srv.(*reactorServer)
	ap, err := netip.ParseAddrPort(srv.Addr().String())
	require.NoError(t, err)
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	require.NoError(t, runCycles(srv, 20)) // warm up pools and buffers
	require.Eventually(t, func() bool { return rs.nconns.Load() == 0 }, 20*time.Second, time.Millisecond)

	before := heapInUse()
	fds := make([]int, 0, idleConns)
	t.Cleanup(func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	})
	for range idleConns {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		fds = append(fds, fd)
		require.NoError(t, unix.Connect(fd, sa))
	}
	require.Eventually(t, func() bool { return rs.nconns.Load() == idleConns }, 20*time.Second, time.Millisecond,
		"the server holds %d of %d connections", rs.nconns.Load(), idleConns)
	per := (int64(heapInUse()) - int64(before)) / idleConns
	t.Logf("%d idle connections: %d bytes of heap each", idleConns, per)
	require.LessOrEqual(t, per, int64(idleHeapBound), "an idle connection costs the server %d bytes of heap", per)
}
