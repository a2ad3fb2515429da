//go:build linux

package servers

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
)

// Slow and dead peers: a peer that does not read the events it is sent, a
// peer that drips a frame byte by byte, a peer that vanishes (RST, killed
// process) in the middle of a request, a peer that goes silent.

var peerEngines = []string{"gnet", "netpoll", "stdnet"}

// peerPolicy is an in-process policy under test.
type peerPolicy struct {
	name string
	mk   func(conn.Service, ...Option) Server
}

var peerPolicies = []peerPolicy{{"threadpool", NewThreadPool}, {"threaded", NewThreaded}}

// sessionOf waits for the server's session of the client whose local
// address is local.
func sessionOf(t *testing.T, rs *reactorServer, local net.Addr) *session {
	t.Helper()
	var found *session
	require.Eventually(t, func() bool {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		for se := range rs.sessions {
			if se.remote() == local.String() {
				found = se
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "no session of %v", local)
	return found
}

// sessionByPort waits for the server's session of the client at port.
func sessionByPort(t *testing.T, rs *reactorServer, port int) *session {
	t.Helper()
	return sessionOf(t, rs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
}

// waitConns waits until the server holds n connections.
func waitConns(t *testing.T, rs *reactorServer, n int64, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return rs.nconns.Load() == n }, 20*time.Second, 5*time.Millisecond,
		"%s: %d connections, want %d", msg, rs.nconns.Load(), n)
}

// TestEventsToPeerThatDoesNotRead: a client subscribes a callback, asks
// the server to fire 2,000 events of 32 KiB at it (64 MiB) and stops
// reading. The server's queue for that connection stays within
// WithMaxQueued (plus one frame), its heap does not grow with the events,
// another client is answered promptly throughout, and once the queue has
// been full for the write timeout the server closes the connection that
// does not read (the design: transport.Write waits WithWriteTimeout for
// room, then closes), which fails the client's pending call.
func TestEventsToPeerThatDoesNotRead(t *testing.T) {
	const (
		maxQueued    = 128 << 10
		payloadSize  = 32 << 10
		events       = 2000
		writeTimeout = time.Second
	)
	payload := make([]byte, payloadSize)
	_, _ = rand.Read(payload)
	for _, e := range peerEngines {
		for _, p := range peerPolicies {
			t.Run(p.name+"/"+e, func(t *testing.T) {
				srv := start(t, p.mk(svc(), WithEngine(e), WithMaxQueued(maxQueued), WithWriteTimeout(writeTimeout),
					WithProtocol(noCompress), WithLogger(testLogger(t))))
				rs := srv.(*reactorServer)
				pc := dialPausable(t, srv)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				root, err := pc.c.Root(ctx)
				require.NoError(t, err)
				var received atomic.Int64
				_, err = root.CallMethod(ctx, "subscribe", func(int64, any) { received.Add(1) })
				require.NoError(t, err)
				other := dial(t, srv)
				require.Equal(t, "ok", call(t, other, "echo", "ok"))
				se := sessionOf(t, rs, pc.nc.LocalAddr())
				base := heapInUse()

				pc.paused.Store(true)
				fired, err := root.CallMethodAsync("fire", int64(events), payload)
				require.NoError(t, err)

				var (
					maxQ, calls     int
					maxLat          time.Duration
					stallHeap       uint64
					stalled, closed time.Time
				)
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					if rs.nconns.Load() == 1 {
						closed = time.Now()
						break
					}
					q := se.rc.Queued()
					maxQ = max(maxQ, q)
					if stalled.IsZero() && q > maxQueued/2 {
						stalled = time.Now()
						stallHeap = heapInUse()
					}
					t0 := time.Now()
					require.Equal(t, int64(calls), call(t, other, "echo", int64(calls)))
					maxLat = max(maxLat, time.Since(t0))
					calls++
				}
				t.Logf("max queued %d KiB, other client: %d calls, slowest %v; stalled %v before the close; heap +%d KiB",
					maxQ>>10, calls, maxLat, closed.Sub(stalled), (int64(stallHeap)-int64(base))>>10)
				require.False(t, stalled.IsZero(), "the send queue never filled (max %d bytes)", maxQ)
				require.False(t, closed.IsZero(), "the connection that does not read was not closed")
				require.LessOrEqual(t, maxQ, maxQueued+payloadSize+1024, "send queue past its bound")
				require.Less(t, int64(stallHeap)-int64(base), int64(16<<20), "heap grew with the queued events")
				require.GreaterOrEqual(t, closed.Sub(stalled), writeTimeout/2, "closed before the write timeout")
				require.Less(t, maxLat, 10*time.Second, "the other client waited") // generous: 2-core CI under load
				<-se.c.Load().Done()
				require.Error(t, se.c.Load().Err())

				// The client that did not read learns its call was cut.
				pc.paused.Store(false)
				rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer rcancel()
				_, err = fired.Result(rctx)
				require.Error(t, err, "fire completed on a connection that did not read")
				require.NoError(t, rctx.Err(), "the cut call never failed")
				require.Less(t, received.Load(), int64(events))
				require.Equal(t, "after", call(t, other, "echo", "after"))
			})
		}
	}
}

// TestIdleTimeoutSlowAndSilentPeers: with an idle timeout, on every
// engine, (1) a slowloris that announces a 32 MiB frame and sends it a
// byte every 50 ms is closed after the idle timeout, as only whole frames
// are activity, and its partial frame does not make the heap grow; (2) a
// peer that sent one request and went silent (a half-open connection
// looks the same) is closed; (3) a peer sending a whole frame (PING) with
// every drip is kept, and a well-behaved client is served
// throughout.
func TestIdleTimeoutSlowAndSilentPeers(t *testing.T) {
	const idle = 2500 * time.Millisecond
	for _, e := range peerEngines {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithIdleTimeout(idle), WithLogger(testLogger(t))))
			rs := srv.(*reactorServer)
			good := startGoodClient(t, srv)
			base := heapInUse()
			pinger := dialRaw(t, srv)
			pinger.requireAlive(1)
			silent := dialRaw(t, srv)
			silent.requireAlive(1)
			silentClosed := watchClose(silent.nc)

			opened := time.Now()
			loris := dialRaw(t, srv)
			lorisClosed := watchClose(loris.nc)
			stream := append(frameHeader(32<<20, 0), make([]byte, 300)...)
			var (
				closedAt time.Time
				heap     uint64
				seq      = int64(2)
			)
		drip:
			for i, b := range stream {
				select {
				case closedAt = <-lorisClosed:
					break drip
				default:
				}
				if _, err := loris.nc.Write([]byte{b}); err != nil {
					closedAt = <-lorisClosed
					break
				}
				if i == 8 {
					heap = heapInUse()
				}
				pinger.requireAlive(seq) // a whole frame every drip
				seq++
				time.Sleep(50 * time.Millisecond) // the drip's pace, not a synchronisation
			}
			if closedAt.IsZero() {
				select {
				case closedAt = <-lorisClosed:
				case <-time.After(10 * time.Second):
					t.Fatalf("a slowloris held the connection for %v with an idle timeout of %v", time.Since(opened), idle)
				}
			}
			held := closedAt.Sub(opened)
			t.Logf("slowloris held the connection %v; heap +%d KiB at the 9th byte", held, (int64(heap)-int64(base))>>10)
			require.GreaterOrEqual(t, held, idle-50*time.Millisecond, "closed before the idle timeout")
			require.Less(t, held, 8*time.Second, "a slowloris held the connection long past the idle timeout")
			if heap != 0 {
				require.Less(t, int64(heap)-int64(base), int64(4<<20), "a partial 32 MiB frame grew the heap")
			}
			select {
			case <-silentClosed:
			case <-time.After(10 * time.Second):
				t.Fatal("a silent peer was not closed")
			}
			pinger.requireAlive(seq)
			good.waitCalls(t, 5)
			waitConns(t, rs, 2, "the slowloris and the silent peer were not released")
		})
	}
}

// watchClose reads nc until it fails (the server closed it) and sends the
// time on the channel.
func watchClose(nc net.Conn) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, _ = io.Copy(io.Discard, nc)
		ch <- time.Now()
	}()
	return ch
}

// TestFrameScan checks the idle timeout's frame tracker against the frame
// decoder: a chunk completes a frame for the one exactly when it does for
// the other, however the stream is cut.
func TestFrameScan(t *testing.T) {
	var stream []byte
	var enc codec.FrameEncoder
	for _, n := range []int{0, 1, 4, 5, 300, 70000, 2} {
		f, err := enc.AppendFrame(nil, make([]byte, n))
		require.NoError(t, err)
		stream = append(stream, f...)
	}
	stream = append(stream, zlibBomb(4096)...) // a compressed frame
	for _, chunk := range []int{1, 2, 3, 5, 6, 7, 64, 1000, 4096, len(stream)} {
		var fs frameScan
		dec := codec.NewFrameDecoder(codec.FrameLimits{})
		frames := 0
		for off := 0; off < len(stream); off += chunk {
			p := stream[off:min(off+chunk, len(stream))]
			got := 0
			if err := dec.Feed(p, func([]byte) error { got++; return nil }); err != nil {
				t.Fatal(err)
			}
			frames += got
			if whole := fs.feed(p); whole != (got > 0) {
				t.Fatalf("chunks of %d, at %d: frame tracker says whole=%v, decoder delivered %d", chunk, off, whole, got)
			}
		}
		require.Equal(t, 8, frames)
		require.Zero(t, fs.rest)
		require.Zero(t, fs.nhdr)
	}
}

// TestPeerResetMidRequest: a client starts a 30 s sleep and resets its
// connection (SO_LINGER 0: RST). On every engine and policy the server
// cancels the request's context at once (the sleep ends long before its
// time), releases the connection, and serves another client throughout.
func TestPeerResetMidRequest(t *testing.T) {
	for _, e := range peerEngines {
		for _, p := range peerPolicies {
			t.Run(p.name+"/"+e, func(t *testing.T) {
				srv := start(t, p.mk(svc(), WithEngine(e), WithLogger(testLogger(t))))
				rs := srv.(*reactorServer)
				good := startGoodClient(t, srv)
				pc := dialPausable(t, srv)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				root, err := pc.c.Root(ctx)
				require.NoError(t, err)
				r, err := root.CallMethodAsync("sleep", 30.0)
				require.NoError(t, err)
				se := sessionOf(t, rs, pc.nc.LocalAddr())
				require.Eventually(t, func() bool { return se.running.Load() == 1 }, 10*time.Second, time.Millisecond,
					"the sleep does not run")

				require.NoError(t, pc.nc.(*net.TCPConn).SetLinger(0))
				reset := time.Now()
				require.NoError(t, pc.nc.Close())
				select {
				case <-se.c.Load().Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the reset connection was not closed")
				}
				require.Eventually(t, func() bool { return se.running.Load() == 0 }, 10*time.Second, time.Millisecond,
					"the request of a reset connection still runs")
				t.Logf("request cancelled %v after the reset: %v", time.Since(reset), se.c.Load().Err())
				require.Less(t, time.Since(reset), 15*time.Second)
				waitConns(t, rs, 1, "the reset connection was not released")
				good.waitCalls(t, 5)
				rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer rcancel()
				_, err = r.Result(rctx)
				require.Error(t, err)
				require.NoError(t, rctx.Err())
			})
		}
	}
}

// killedPeerScript connects, prints its local port, and sleeps 30 s on the
// server.
const killedPeerScript = `
import sys, rpyc
c = rpyc.connect("127.0.0.1", int(sys.argv[1]))
print(c._channel.stream.sock.getsockname()[1], flush=True)
c.root.sleep(30)
print("sleep returned", flush=True)
`

// TestPythonPeerKilledMidRequest: the real Python client is killed
// (SIGKILL) while the server runs its 30 s sleep; the server cancels the
// request, releases the connection, and serves another client throughout.
func TestPythonPeerKilledMidRequest(t *testing.T) {
	requirePython(t)
	for _, e := range peerEngines {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithLogger(testLogger(t))))
			rs := srv.(*reactorServer)
			good := startGoodClient(t, srv)
			cmd := exec.Command(pythonPath, "-u", "-c", killedPeerScript, portOf(t, srv))
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			portc := make(chan int, 1)
			go func() {
				sc := bufio.NewScanner(out)
				if sc.Scan() {
					p, _ := strconv.Atoi(strings.TrimSpace(sc.Text()))
					portc <- p
				}
				_, _ = io.Copy(io.Discard, out)
			}()
			var port int
			select {
			case port = <-portc:
			case <-time.After(30 * time.Second):
				t.Fatal("the Python client did not connect")
			}
			se := sessionByPort(t, rs, port)
			require.Eventually(t, func() bool { return se.running.Load() == 1 }, 20*time.Second, time.Millisecond,
				"the Python client's sleep does not run")

			killed := time.Now()
			require.NoError(t, cmd.Process.Signal(unix.SIGKILL))
			select {
			case <-se.c.Load().Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the killed client's connection was not closed")
			}
			require.Eventually(t, func() bool { return se.running.Load() == 0 }, 10*time.Second, time.Millisecond,
				"the request of a killed client still runs")
			t.Logf("request cancelled %v after SIGKILL: %v", time.Since(killed), se.c.Load().Err())
			waitConns(t, rs, 1, "the killed client's connection was not released")
			good.waitCalls(t, 5)
		})
	}
}

// serverSockets returns this process's socket descriptors whose local
// address is the server's and whose peer is the client at local (the
// server's side of the client's connection; engines may hold duplicates).
func serverSockets(t *testing.T, srvAddr, local net.Addr) []int {
	t.Helper()
	sa, la := srvAddr.(*net.TCPAddr), local.(*net.TCPAddr)
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var fds []int
	for _, ent := range ents {
		fd, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		me, err1 := unix.Getsockname(fd)
		peer, err2 := unix.Getpeername(fd)
		if err1 != nil || err2 != nil {
			continue
		}
		m4, ok1 := me.(*unix.SockaddrInet4)
		p4, ok2 := peer.(*unix.SockaddrInet4)
		if ok1 && ok2 && m4.Port == sa.Port && p4.Port == la.Port {
			fds = append(fds, fd)
		}
	}
	return fds
}

// TestKeepAliveOnAcceptedSockets: half-open connections (a peer whose host
// vanished) cannot be made on loopback, so this checks what reaps them:
// the sockets every engine accepts (TLS ones too) have SO_KEEPALIVE with
// TCP_KEEPIDLE and TCP_KEEPINTVL set to the configured period
// (DefaultKeepAlive unless WithKeepAlive says otherwise), and none with
// WithKeepAlive(0). The idle timeout's side is
// TestIdleTimeoutSlowAndSilentPeers.
func TestKeepAliveOnAcceptedSockets(t *testing.T) {
	cs := makeCerts(t)
	for _, e := range append(peerEngines, "tls") {
		for _, ka := range []struct {
			name string
			opts []Option
			secs int // 0: off
		}{
			{"default", nil, int(DefaultKeepAlive / time.Second)},
			{"7s", []Option{WithKeepAlive(7 * time.Second)}, 7},
			{"off", []Option{WithKeepAlive(0)}, 0},
		} {
			t.Run(e+"/"+ka.name, func(t *testing.T) {
				opts := append([]Option{WithEngine(e), WithLogger(testLogger(t))}, ka.opts...)
				if e == "tls" {
					opts = append(opts, WithEngine("gnet"), WithTLS(cs.serverCert, cs.serverKey, ""))
				}
				srv := start(t, NewThreadPool(svc(), opts...))
				nc, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
				require.NoError(t, err)
				defer nc.Close()
				// One round trip first: the server has then accepted the
				// socket and set its options (the descriptor shows in
				// /proc before that).
				var x net.Conn = nc
				if e == "tls" {
					x = tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the socket's options are under test
				}
				c, err := conn.NewNetConn(x, nil)
				require.NoError(t, err)
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				require.NoError(t, c.Ping(ctx))
				var fds []int
				require.Eventually(t, func() bool {
					fds = serverSockets(t, srv.Addr(), nc.LocalAddr())
					return len(fds) > 0
				}, 10*time.Second, 5*time.Millisecond, "the server's socket of the connection not found")
				for _, fd := range fds {
					on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
					require.NoError(t, err)
					if ka.secs == 0 {
						require.Zero(t, on, "SO_KEEPALIVE on fd %d", fd)
						continue
					}
					require.Equal(t, 1, on, "SO_KEEPALIVE off on fd %d", fd)
					idle, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
					require.NoError(t, err)
					intvl, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
					require.NoError(t, err)
					cnt, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
					require.NoError(t, err)
					require.Equal(t, ka.secs, idle, "TCP_KEEPIDLE on fd %d", fd)
					require.Equal(t, ka.secs, intvl, "TCP_KEEPINTVL on fd %d", fd)
					require.Positive(t, cnt)
				}
			})
		}
	}
}
