package conn

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services/pypeer"
)

// inlineRoot has methods that may run on the goroutine feeding the
// connection (RPyCInline) and one that may not.
type inlineRoot struct {
	fed chan struct{} // the test holds the feeding goroutine's next step
}

func (*inlineRoot) RPyCInline() []string { return []string{"Fast", "Slow", "CallsBack"} }

// Fast returns x.
func (*inlineRoot) Fast(x any) any { return x }

// Slow overruns netref.InlineBudget.
func (*inlineRoot) Slow() int64 {
	time.Sleep(netref.InlineBudget + 5*time.Millisecond)
	return 1
}

// CallsBack makes a sync request to the peer with its own context: wrong
// for an inline method.
func (*inlineRoot) CallsBack(ctx context.Context, f *netref.Proxy) (any, error) {
	return f.Call(ctx, int64(1))
}

// Worker is not inline: it blocks until released.
func (r *inlineRoot) Worker(ctx context.Context) error {
	select {
	case <-r.fed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatedExec holds every task until the test opens the gate, so a request
// answered while the gate is shut was served without the executor.
type gatedExec struct {
	mu   sync.Mutex
	shut bool
	held []func()
}

func (e *gatedExec) Execute(task func()) {
	e.mu.Lock()
	if e.shut {
		e.held = append(e.held, task)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	go task()
}

func (e *gatedExec) open() {
	e.mu.Lock()
	e.shut = false
	held := e.held
	e.held = nil
	e.mu.Unlock()
	for _, t := range held {
		go t()
	}
}

func TestInlineMethodsSkipTheExecutor(t *testing.T) {
	exec := &gatedExec{shut: true}
	root := &inlineRoot{fed: make(chan struct{})}
	a, b := net.Pipe()
	server, err := NewNetConn(a, rootService{root}, WithExecutor(exec))
	require.NoError(t, err)
	client, err := NewNetConn(b, nil)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); server.Close() })
	ctx := ctxT(t)

	// With every executor task held, only inline methods can answer.
	got, err := client.Call(ctx, "fast", "no hand-over")
	require.NoError(t, err)
	require.Equal(t, "no hand-over", got)

	rootp := mustRoot(t, client)
	pending, err := rootp.CallMethodAsync("worker")
	require.NoError(t, err)
	shortCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, pending.Wait(shortCtx), context.DeadlineExceeded, "a method not listed ran without the executor")
	exec.open()
	close(root.fed)
	_, err = pending.Result(ctx)
	require.NoError(t, err)
}

func TestInlineMethodSyncRequestFails(t *testing.T) {
	client, _ := pipePair(t, &inlineRoot{})
	ctx := ctxT(t)
	called := false
	_, err := client.Call(ctx, "calls_back", func(x int64) int64 { called = true; return x })
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Error(), "inline")
	require.False(t, called)
	// The loop was never blocked: the connection serves on.
	got, err := client.Call(ctx, "fast", int64(7))
	require.NoError(t, err)
	require.Equal(t, int64(7), got)
}

func TestInlineMethodOverBudgetIsDemoted(t *testing.T) {
	var logs pypeer.SyncBuffer
	log := zerolog.New(&logs)
	root := &inlineRoot{}
	client, server := pipePair(t, root, WithLogger(log))
	ctx := ctxT(t)
	<-server.AttachDone()
	in := server.LocalRoot().(netref.Inliner)
	require.True(t, netref.SetInline(root, "Slow", true)) // for -count > 1
	t.Cleanup(func() { netref.SetInline(root, "Slow", true) })
	require.True(t, in.InlineMethod("slow"))
	// One overrun may be the machine's: the method stays inline until
	// its InlineStrikes-th.
	for i := 1; i <= netref.InlineStrikes; i++ {
		if i == netref.InlineStrikes {
			require.True(t, in.InlineMethod("slow"), "still inline before overrun %d", i)
		}
		v, err := client.Call(ctx, "slow")
		require.NoError(t, err)
		require.Equal(t, int64(1), v)
	}
	// The reply goes out before the overrun is noticed.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "overran its budget: it runs on the workers") },
		5*time.Second, time.Millisecond)
	require.False(t, in.InlineMethod("slow"), "an overrun demotes the method")
	require.True(t, in.InlineMethod("fast"), "only the method that overran")
	require.Contains(t, logs.String(), `"method":"slow"`)
	// Demoted, it still answers (on the executor).
	v, err := client.Call(ctx, "slow")
	require.NoError(t, err)
	require.Equal(t, int64(1), v)
	require.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("overran its budget: it runs on the workers")))
}

func TestInlineNamesAreNotExposed(t *testing.T) {
	client, _ := pipePair(t, &inlineRoot{})
	ctx := ctxT(t)
	names, err := mustRoot(t, client).Dir(ctx)
	require.NoError(t, err)
	require.Contains(t, names, "fast")
	require.NotContains(t, names, "r_py_c_inline")
	_, err = client.Call(ctx, "r_py_c_inline")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "AttributeError", pe.Class)
}

func TestInlineRequestFromOtherContextsStillWorks(t *testing.T) {
	// Only the context an inline method receives is refused: the same
	// connection's sync requests from anywhere else go through.
	client, server := pipePair(t, &testRoot{})
	_, err := server.Request(ctxT(t), netref.HandlePing, "x")
	require.NoError(t, err)
	_, err = client.Request(context.WithValue(ctxT(t), inlineKey{}, true), netref.HandlePing, "x")
	require.ErrorIs(t, err, ErrInlineRequest)
	_, err = client.Request(ctxT(t), netref.HandlePing, "x")
	require.NoError(t, err)
	var _ dispatch.Executor = (*gatedExec)(nil)
}

// largeRoot serves large arguments inline (viewing the frame) and not.
type largeRoot struct {
	mu   sync.Mutex
	kept [][]byte
}

func (*largeRoot) RPyCInline() []string { return []string{"Echo", "Len"} }

func (*largeRoot) Echo(x any) any { return x }

// Len is inline and takes a callable too: a REMOTE_REF argument.
func (*largeRoot) Len(b []byte, _ any) int64 { return int64(len(b)) }

// Keep is not inline: it keeps its argument past the request.
func (r *largeRoot) Keep(b []byte) {
	r.mu.Lock()
	r.kept = append(r.kept, b)
	r.mu.Unlock()
}

func TestLargeArgumentsViewedOnlyWhenInline(t *testing.T) {
	root := &largeRoot{}
	client, _ := pipePair(t, root)
	ctx := ctxT(t)
	payload := func(seed byte) []byte {
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	for i := range 4 {
		p := payload(byte(i))
		got, err := client.Call(ctx, "echo", p)
		require.NoError(t, err)
		require.Equal(t, p, got, "inline echo of 64 KiB, round %d", i)
		require.NoError(t, client.Notify(netref.HandleCallAttr, mustRoot(t, client), "keep", codec.Tuple{p}, codec.Tuple{}))
		n, err := client.Call(ctx, "len", p, func() {})
		require.NoError(t, err)
		require.Equal(t, int64(len(p)), n)
	}
	// What the non-inline method kept was copied out of its frame: later
	// frames did not overwrite it.
	require.Eventually(t, func() bool {
		root.mu.Lock()
		defer root.mu.Unlock()
		return len(root.kept) == 4
	}, 5*time.Second, time.Millisecond)
	root.mu.Lock()
	defer root.mu.Unlock()
	for i, b := range root.kept {
		require.Equal(t, payload(byte(i)), b, "kept argument %d", i)
	}
}

// Small requests are decoded viewing the frame and a shared decoder's
// memory when they may be served inline: what a non-inline method keeps,
// and the name a GETATTR binds, are copies that later requests leave alone.
func TestSmallRequestsViewedOnlyWhenInline(t *testing.T) {
	root := &largeRoot{}
	client, _ := pipePair(t, root)
	ctx := ctxT(t)
	rootProxy := mustRoot(t, client)
	bound, err := rootProxy.GetAttr(ctx, "echo")
	require.NoError(t, err)
	var want [][]byte
	for i := range 50 {
		p := []byte(fmt.Sprintf("small payload %03d", i))
		want = append(want, p)
		require.NoError(t, client.Notify(netref.HandleCallAttr, rootProxy, "keep", codec.Tuple{p}, codec.Tuple{}))
		got, err := client.Call(ctx, "echo", codec.Tuple{"x", int64(i), []byte("zz")})
		require.NoError(t, err)
		require.Equal(t, codec.Tuple{"x", int64(i), []byte("zz")}, got)
	}
	v, err := bound.(*netref.Proxy).Call(ctx, "via the bound method")
	require.NoError(t, err)
	require.Equal(t, "via the bound method", v)
	require.Eventually(t, func() bool {
		root.mu.Lock()
		defer root.mu.Unlock()
		return len(root.kept) == len(want)
	}, 5*time.Second, time.Millisecond)
	root.mu.Lock()
	defer root.mu.Unlock()
	// The workers run the keeps in any order.
	require.ElementsMatch(t, want, root.kept)
}
