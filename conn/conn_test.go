package conn

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

// rootService exposes one Go value as the root of every connection.
type rootService struct{ root any }

func (s rootService) Attach(*Conn) (netref.Object, error) { return netref.Wrap(s.root), nil }
func (s rootService) Detach(*Conn)                        {}

type counter struct{ n int64 }

func (c *counter) Incr() int64 { c.n++; return c.n }

type testRoot struct {
	release chan struct{}
}

func (*testRoot) Echo(x any) any        { return x }
func (*testRoot) NewCounter() *counter  { return &counter{} }
func (*testRoot) Fail(msg string) error { return codec.NewPyError("ValueError", msg) }
func (*testRoot) Boom()                 { panic("boom") }
func (r *testRoot) Block(ctx context.Context) error {
	select {
	case <-r.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Twice calls the peer's callable f and doubles the result.
func (*testRoot) Twice(f func(int64) (int64, error), x int64) (int64, error) {
	v, err := f(x)
	return 2 * v, err
}

// Bounce calls back into the peer, which calls back into us, n levels deep.
func (*testRoot) Bounce(ctx context.Context, f *netref.Proxy, n int64) (any, error) {
	if n == 0 {
		return int64(0), nil
	}
	return f.Call(ctx, n-1)
}

// pipePair connects a client to a server exposing root over net.Pipe.
func pipePair(t *testing.T, root any, opts ...Option) (client, server *Conn) {
	t.Helper()
	a, b := net.Pipe()
	server, err := NewNetConn(a, rootService{root}, opts...)
	require.NoError(t, err)
	client, err = NewNetConn(b, nil, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCallsAndValues(t *testing.T) {
	client, _ := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	for _, v := range []any{nil, true, int64(7), int64(1 << 40), "héllo", []byte("raw"), 1.5,
		codec.Tuple{int64(1), "a", codec.Tuple{}}, codec.Ellipsis} {
		got, err := client.Call(ctx, "echo", v)
		require.NoError(t, err)
		require.Equal(t, v, got)
	}
	require.NoError(t, client.Ping(ctx))
}

func TestRemoteExceptionAndPanic(t *testing.T) {
	client, server := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	_, err := client.Call(ctx, "fail", "bad value")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Class)
	require.Equal(t, codec.Tuple{"bad value"}, pe.Args)

	_, err = client.Call(ctx, "boom")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RuntimeError", pe.Class)
	// The connection survives the panic.
	got, err := client.Call(ctx, "echo", int64(1))
	require.NoError(t, err)
	require.Equal(t, int64(1), got)
	require.False(t, server.Closed())

	_, err = client.Call(ctx, "no_such_method")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "AttributeError", pe.Class)
}

func TestCallbacksNestDeep(t *testing.T) {
	client, _ := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	root, err := client.Root(ctx)
	require.NoError(t, err)

	got, err := root.CallMethod(ctx, "twice", func(x int64) int64 { return x + 1 }, int64(5))
	require.NoError(t, err)
	require.Equal(t, int64(12), got)

	// Go client -> Go server -> client callback -> server -> ... 20 levels.
	var bounce func(ctx context.Context, n int64) (any, error)
	bounce = func(ctx context.Context, n int64) (any, error) {
		return root.CallMethod(ctx, "bounce", bounce, n)
	}
	got, err = bounce(ctx, 20)
	require.NoError(t, err)
	require.Equal(t, int64(0), got)
}

func TestReleaseFreesServerObjects(t *testing.T) {
	client, server := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	root, err := client.Root(ctx)
	require.NoError(t, err)
	before := server.HeldObjects()
	v, err := root.CallMethod(ctx, "new_counter")
	require.NoError(t, err)
	ctr := v.(*netref.Proxy)
	n, err := ctr.CallMethod(ctx, "incr")
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, before+1, server.HeldObjects())
	require.NoError(t, ctr.Close())
	// DEL is applied before any later request is answered.
	_, err = client.Call(ctx, "echo", nil)
	require.NoError(t, err)
	require.Equal(t, before, server.HeldObjects())
	// The released reference is gone on the server: a forged use fails.
	_, err = client.Request(ctx, netref.HandleGetAttr, releasedRef{ctr.ID()}, "incr")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Class)
}

func TestUnknownHandler(t *testing.T) {
	client, server := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	_, err := client.Request(ctx, 99)
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Class)
	require.False(t, server.Closed())
}

func TestTimeoutAndLateReply(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, _ := pipePair(t, r)
	ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
	defer cancel()
	_, err := client.Call(ctx, "block")
	require.ErrorIs(t, err, dispatch.ErrTimeout)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	close(r.release) // the late reply is dropped
	got, err := client.Call(ctxT(t), "echo", "still here")
	require.NoError(t, err)
	require.Equal(t, "still here", got)
}

func TestCloseFailsPendingCalls(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, server := pipePair(t, r)
	ctx := ctxT(t)
	_, err := client.Root(ctx)
	require.NoError(t, err)
	res, err := client.RequestAsync(netref.HandleCallAttr, mustRoot(t, client), "block", codec.Tuple{}, codec.Tuple{})
	require.NoError(t, err)
	server.Close()
	_, err = res.Result(ctx)
	require.ErrorIs(t, err, dispatch.ErrClosed)
	<-client.Done()
	_, err = client.Call(ctx, "echo", 1)
	require.ErrorIs(t, err, dispatch.ErrClosed)
}

func mustRoot(t *testing.T, c *Conn) *netref.Proxy {
	p, err := c.Root(ctxT(t))
	require.NoError(t, err)
	return p
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	a, b := net.Pipe()
	server, err := NewNetConn(a, rootService{&testRoot{}})
	require.NoError(t, err)
	go func() {
		// A frame whose payload is not an RPyC message.
		_, _ = b.Write([]byte{0, 0, 0, 3, 0, 0xF0, 0xF1, 0xF2, 0x0A})
	}()
	<-server.Done()
	require.ErrorIs(t, server.Err(), ErrProtocol)
	b.Close()

	// Another connection is unaffected.
	client, _ := pipePair(t, &testRoot{})
	_, err = client.Call(ctxT(t), "echo", 1)
	require.NoError(t, err)
}

func TestPeerCloseRequest(t *testing.T) {
	client, server := pipePair(t, &testRoot{})
	_, err := client.Call(ctxT(t), "echo", 1)
	require.NoError(t, err)
	client.Close() // sends CLOSE
	<-server.Done()
	require.True(t, errors.Is(server.Err(), ErrPeerClosed) || errors.Is(server.Err(), dispatch.ErrClosed))
}

func TestAsyncAndTimed(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, _ := pipePair(t, r)
	ctx := ctxT(t)
	root := mustRoot(t, client)

	res, err := root.CallMethodAsync("echo", "later")
	require.NoError(t, err)
	got := make(chan any, 1)
	res.Then(func(v any, err error) { got <- v })
	v, err := res.Result(ctx)
	require.NoError(t, err)
	require.Equal(t, "later", v)
	require.Equal(t, "later", <-got)
	require.True(t, res.Ready())

	timed, err := root.CallMethodTimed(20*time.Millisecond, "block")
	require.NoError(t, err)
	require.ErrorIs(t, timed.Wait(ctx), dispatch.ErrExpired)
	require.True(t, timed.Expired())
	close(r.release)
}

// TestRPyC6Layout: a client speaking the 6.x message layout is detected on
// its first frame and answered in that layout, callbacks included.
func TestRPyC6Layout(t *testing.T) {
	a, b := net.Pipe()
	server, err := NewNetConn(a, rootService{&testRoot{}}) // default 5.x until the peer speaks
	require.NoError(t, err)
	client, err := NewNetConn(b, nil, WithFormat(codec.FormatV6))
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); server.Close() })
	ctx := ctxT(t)
	got, err := client.Call(ctx, "echo", "six")
	require.NoError(t, err)
	require.Equal(t, "six", got)
	require.Equal(t, codec.FormatV6, server.Format())
	root := mustRoot(t, client)
	n, err := root.CallMethod(ctx, "twice", func(x int64) int64 { return x * 10 }, int64(4))
	require.NoError(t, err)
	require.Equal(t, int64(80), n)
	_, err = client.Call(ctx, "fail", "six-err")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Class)
}

func TestMaxObjectsLimit(t *testing.T) {
	client, server := pipePair(t, &testRoot{}, WithMaxObjects(3))
	ctx := ctxT(t)
	root := mustRoot(t, client) // the root is object 1
	var held []*netref.Proxy
	for range 2 {
		v, err := root.CallMethod(ctx, "new_counter")
		require.NoError(t, err)
		held = append(held, v.(*netref.Proxy))
	}
	require.Equal(t, 3, server.HeldObjects())
	_, err := root.CallMethod(ctx, "new_counter")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "MemoryError", pe.Class)
	// Releasing one makes room again; the connection kept serving.
	require.NoError(t, held[0].Close())
	_, err = root.CallMethod(ctx, "new_counter")
	require.NoError(t, err)
}

func TestMaxInFlightLimit(t *testing.T) {
	r := &testRoot{release: make(chan struct{})}
	client, server := pipePair(t, r, WithMaxInFlight(2))
	ctx := ctxT(t)
	root := mustRoot(t, client)
	var blocked []*dispatch.AsyncResult
	for range 2 {
		res, err := root.CallMethodAsync("block")
		require.NoError(t, err)
		blocked = append(blocked, res)
	}
	// The third is refused at once, and the blocked two are still served.
	require.Eventually(t, func() bool { return server.InFlight() == 2 }, 5*time.Second, time.Millisecond)
	_, err := root.CallMethod(ctx, "echo", 1)
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RuntimeError", pe.Class)
	close(r.release)
	for _, res := range blocked {
		_, err := res.Result(ctx)
		require.NoError(t, err)
	}
	_, err = root.CallMethod(ctx, "echo", 1)
	require.NoError(t, err)
}

// TestForgedReferenceRefused: an id_pack handed out on one connection names
// nothing on another, and names outside what the object exposes stay
// unreachable through every handler.
func TestForgedReferenceRefused(t *testing.T) {
	shared := &testRoot{}
	a, _ := pipePair(t, shared)
	b, _ := pipePair(t, shared)
	ctx := ctxT(t)
	v, err := mustRoot(t, a).CallMethod(ctx, "new_counter")
	require.NoError(t, err)
	theirs := v.(*netref.Proxy).ID()
	mustRoot(t, b)

	var pe *codec.PyError
	for _, h := range []struct {
		code int
		args []any
	}{
		{netref.HandleGetAttr, []any{releasedRef{theirs}, "incr"}},
		{netref.HandleCallAttr, []any{releasedRef{theirs}, "incr", codec.Tuple{}, codec.Tuple{}}},
		{netref.HandleCall, []any{releasedRef{theirs}, codec.Tuple{}, codec.Tuple{}}},
		{netref.HandleStr, []any{releasedRef{theirs}}},
		{netref.HandleDir, []any{releasedRef{theirs}}},
		{netref.HandleInspect, []any{theirs.Tuple()}},
		{netref.HandleDel, []any{releasedRef{theirs}, int64(1)}},
	} {
		_, err := b.Request(ctx, h.code, h.args...)
		require.ErrorAs(t, err, &pe, "handler %d", h.code)
		require.Equal(t, "KeyError", pe.Class, "handler %d", h.code)
	}

	root := mustRoot(t, a)
	for _, name := range []string{"__class__", "__dict__", "release", "block_", "__init__", "__getattribute__"} {
		_, err := root.GetAttr(ctx, name)
		require.ErrorAs(t, err, &pe, name)
		require.Equal(t, "AttributeError", pe.Class, name)
	}
	_, err = a.Request(ctx, netref.HandleSetAttr, root, "release", nil)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "AttributeError", pe.Class)
	_, err = a.Request(ctx, netref.HandlePickle, root, int64(4))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Class)
}

// TestCloseDropsRootProxy: the root proxy's cleanup holds its Conn, so a
// closed Conn must not keep holding the proxy (or neither is ever freed).
func TestCloseDropsRootProxy(t *testing.T) {
	client, _ := pipePair(t, &testRoot{})
	mustRoot(t, client)
	require.NoError(t, client.Close())
	client.rootMu.Lock()
	defer client.rootMu.Unlock()
	require.Nil(t, client.rootProxy)
}
