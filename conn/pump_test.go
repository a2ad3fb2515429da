package conn

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

// serveOne serves the first connection ln accepts with a server exposing
// root (ServeNetConn-style, on its own goroutine), and sends that
// connection on the channel it returns (closed if accepting failed).
func serveOne(ln net.Listener, root any, opts ...Option) <-chan *Conn {
	srv := make(chan *Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(srv)
			return
		}
		c, err := New(newNetTransport(nc), rootService{root}, opts...)
		if err != nil {
			nc.Close()
			close(srv)
			return
		}
		srv <- c
		c.readLoop(nc)
	}()
	return srv
}

// tcpPair connects a client (NewNetConn over TCP: callers pump) to a server
// exposing root (ServeNetConn on its own goroutine) over loopback.
func tcpPair(t *testing.T, root any, opts ...Option) (client *Conn, server func() *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	srv := serveOne(ln, root, opts...)
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	client, err = NewNetConn(nc, nil, opts...)
	require.NoError(t, err)
	require.NotNil(t, client.rd, "a TCP client connection is read by its callers")
	var (
		once sync.Once
		sc   *Conn
	)
	server = func() *Conn {
		once.Do(func() { sc = <-srv })
		return sc
	}
	t.Cleanup(func() {
		client.Close()
		if s := server(); s != nil {
			s.Close()
		}
	})
	return client, server
}

func TestPumpSyncCallsAreReadByTheirCaller(t *testing.T) {
	client, _ := tcpPair(t, &testRoot{})
	ctx := ctxT(t)
	const calls = 200
	for i := range calls {
		got, err := client.Call(ctx, "echo", int64(i))
		require.NoError(t, err)
		require.Equal(t, int64(i), got)
	}
	caller, loop := client.rd.reads()
	// Back-to-back sync calls leave the socket to their callers; the
	// reader goroutine reads only when the test was descheduled for longer
	// than pumpIdle between two calls (a busy machine), and hands back
	// after the reply it read.
	require.GreaterOrEqual(t, caller, uint64(calls/2))
	require.Less(t, loop, uint64(calls/2), "the reader goroutine read most replies (caller %d)", caller)

	// The callers' context is watched once, for all the calls, and let go
	// when the connection ends (it must not keep the connection alive).
	client.rd.mu.Lock()
	require.Equal(t, ctx, client.rd.watched)
	client.rd.mu.Unlock()
	require.NoError(t, client.Close())
	<-client.Done()
	require.Eventually(t, func() bool {
		client.rd.mu.Lock()
		defer client.rd.mu.Unlock()
		return client.rd.watched == nil
	}, 5*time.Second, time.Millisecond)
}

func TestPumpConcurrentCallersAndAsync(t *testing.T) {
	client, _ := tcpPair(t, &testRoot{})
	ctx := ctxT(t)
	root := mustRoot(t, client)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				want := int64(g*1000 + i)
				got, err := client.Call(ctx, "echo", want)
				if err == nil && got != want {
					err = errors.New("wrong reply")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Async requests whose results nobody waits for by pumping: the reader
	// goroutine reads them.
	var async []*dispatch.AsyncResult
	for i := range 50 {
		r, err := client.RequestAsync(netref.HandleCallAttr, root, "echo", codec.Tuple{int64(i)}, codec.Tuple{})
		require.NoError(t, err)
		async = append(async, r)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i, r := range async {
		v, err := r.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(i), v)
	}
}

func TestPumpTimeoutThenLateReply(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, _ := tcpPair(t, r, WithTimeout(80*time.Millisecond))
	ctx := context.Background()
	root := mustRoot(t, client)
	start := time.Now()
	_, err := root.CallMethod(ctx, "block")
	require.ErrorIs(t, err, dispatch.ErrTimeout)
	var te *dispatch.TimeoutError
	require.ErrorAs(t, err, &te)
	require.Equal(t, 80*time.Millisecond, te.After, "the timeout names the whole wait")
	require.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	close(r.release) // the late reply is read and dropped
	got, err := client.Call(ctxT(t), "echo", "still here")
	require.NoError(t, err)
	require.Equal(t, "still here", got)
}

func TestPumpContextCancelled(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, _ := tcpPair(t, r)
	root := mustRoot(t, client)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err := root.CallMethod(ctx, "block")
	require.ErrorIs(t, err, context.Canceled)
	close(r.release)
	// The cancelled pump's deadline may land after it gave the socket
	// back: the connection reads on regardless.
	for i := range 20 {
		got, err := client.Call(ctxT(t), "echo", int64(i))
		require.NoError(t, err)
		require.Equal(t, int64(i), got)
	}
}

func TestPumpServesPeerRequestsDuringAndBetweenCalls(t *testing.T) {
	client, server := tcpPair(t, &testRoot{})
	ctx := ctxT(t)
	// During a call: the server calls back into the client, nested.
	root := mustRoot(t, client)
	var fn func(context.Context, int64) (any, error)
	fn = func(ctx context.Context, n int64) (any, error) {
		return root.CallMethod(ctx, "bounce", fn, n)
	}
	got, err := root.CallMethod(ctx, "bounce", fn, int64(6))
	require.NoError(t, err)
	require.Equal(t, int64(0), got)

	// Between calls: the server calls the client while the client makes
	// no call at all; the reader goroutine must read it.
	sroot, err := server().Root(ctx)
	require.NoError(t, err)
	_ = sroot // the client's root is the void service
	v, err := server().Request(ctx, netref.HandlePing, "between calls")
	require.NoError(t, err)
	require.Equal(t, "between calls", v)
}

// The idle timer is armed once and re-armed when it fires early: after a
// run of calls closer together than pumpIdle, the peer's request made
// after the last one is still read by the reader goroutine.
func TestPumpIdleTimerAfterACallRun(t *testing.T) {
	client, server := tcpPair(t, &testRoot{})
	ctx := ctxT(t)
	root := mustRoot(t, client)
	for i := range 300 {
		_, err := root.CallMethod(ctx, "echo", int64(i))
		require.NoError(t, err)
	}
	loopReads := client.rd.loopReads.Load()
	v, err := server().Request(ctx, netref.HandlePing, "after the run")
	require.NoError(t, err)
	require.Equal(t, "after the run", v)
	require.Greater(t, client.rd.loopReads.Load(), loopReads, "the reader goroutine read the request")
}

func TestPumpPeerClosesDuringCall(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, server := tcpPair(t, r)
	root := mustRoot(t, client)
	time.AfterFunc(30*time.Millisecond, func() { server().Close() })
	_, err := root.CallMethod(ctxT(t), "block")
	require.ErrorIs(t, err, dispatch.ErrClosed)
	<-client.Done()
	_, err = client.Call(ctxT(t), "echo", 1)
	require.ErrorIs(t, err, dispatch.ErrClosed)
}

func TestPumpLocalCloseDuringCall(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, _ := tcpPair(t, r)
	root := mustRoot(t, client)
	time.AfterFunc(30*time.Millisecond, func() { client.Close() })
	_, err := root.CallMethod(ctxT(t), "block")
	require.ErrorIs(t, err, dispatch.ErrClosed)
	close(r.release)
}

// The idle sweeper holds its readers weakly: a closed client connection
// (and its read buffer) is not kept alive by the sweeper's list.
func TestIdleSweeperDoesNotPinClosedConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	serveOne(ln, &testRoot{})
	ctx := ctxT(t)
	collected := make(chan struct{})
	func() {
		nc, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		client, err := NewNetConn(nc, nil)
		require.NoError(t, err)
		_, err = mustRoot(t, client).CallMethod(ctx, "echo", int64(1)) // arms the sweeper
		require.NoError(t, err)
		runtime.AddCleanup(client.rd, func(ch chan struct{}) { close(ch) }, collected)
		require.NoError(t, client.Close())
		<-client.Done()
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		select {
		case <-collected:
			return true
		default:
			return false
		}
	}, 5*time.Second, 5*time.Millisecond, "the closed connection's reader was collected")
}
