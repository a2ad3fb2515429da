package netref

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
)

var (
	idList = IDPack{Name: "builtins.list", Class: 0x7f00, Instance: 0x7f10}
	idIter = IDPack{Name: "builtins.list_iterator", Class: 0x7f20, Instance: 0x7f30}
	idCls  = IDPack{Name: "__main__.Thing", Class: 0x7f40, Instance: 0}
)

// TestProxyRequests checks that each operation sends the handler and the
// argument list of PROTOCOL.md §7/§8.
func TestProxyRequests(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{}
	p := NewProxy(peer, idList)
	other := NewProxy(peer, idIter)
	kw := []Kwarg{{"k", int64(3)}, {"j", "x"}}
	kwT := codec.Tuple{codec.Tuple{"k", int64(3)}, codec.Tuple{"j", "x"}}

	tests := []struct {
		name    string
		op      func() error
		handler int
		args    []any
	}{
		{"getattr", func() error { _, err := p.GetAttr(ctx, "name"); return err }, HandleGetAttr, []any{p, "name"}},
		{"setattr", func() error { return p.SetAttr(ctx, "x", int64(5)) }, HandleSetAttr, []any{p, "x", int64(5)}},
		{"delattr", func() error { return p.DelAttr(ctx, "x") }, HandleDelAttr, []any{p, "x"}},
		{"call", func() error { _, err := p.Call(ctx, int64(1), int64(2)); return err }, HandleCall,
			[]any{p, codec.Tuple{int64(1), int64(2)}, codec.Tuple{}}},
		{"call no args", func() error { _, err := p.Call(ctx); return err }, HandleCall,
			[]any{p, codec.Tuple{}, codec.Tuple{}}},
		{"callkw", func() error { _, err := p.CallKw(ctx, []any{int64(1)}, kw); return err }, HandleCall,
			[]any{p, codec.Tuple{int64(1)}, kwT}},
		{"callmethod", func() error { _, err := p.CallMethod(ctx, "append", int64(1)); return err }, HandleCallAttr,
			[]any{p, "append", codec.Tuple{int64(1)}, codec.Tuple{}}},
		{"callmethodkw", func() error { _, err := p.CallMethodKw(ctx, "sort", nil, kw); return err }, HandleCallAttr,
			[]any{p, "sort", codec.Tuple{}, kwT}},
		{"str", func() error { _, err := p.Str(ctx); return err }, HandleStr, []any{p}},
		{"repr", func() error { _, err := p.Repr(ctx); return err }, HandleRepr, []any{p}},
		{"hash", func() error { _, err := p.Hash(ctx); return err }, HandleHash, []any{p}},
		{"dir", func() error { _, err := p.Dir(ctx); return err }, HandleDir, []any{p}},
		{"cmp", func() error { _, err := p.Cmp(ctx, other, "__lt__"); return err }, HandleCmp, []any{p, other, "__lt__"}},
		{"eq", func() error { _, err := p.Eq(ctx, int64(4)); return err }, HandleCmp, []any{p, int64(4), "__eq__"}},
		{"len", func() error { _, err := p.Len(ctx); return err }, HandleCallAttr,
			[]any{p, "__len__", codec.Tuple{}, codec.Tuple{}}},
		{"getitem", func() error { _, err := p.GetItem(ctx, "k"); return err }, HandleCallAttr,
			[]any{p, "__getitem__", codec.Tuple{"k"}, codec.Tuple{}}},
		{"setitem", func() error { return p.SetItem(ctx, "k", int64(1)) }, HandleCallAttr,
			[]any{p, "__setitem__", codec.Tuple{"k", int64(1)}, codec.Tuple{}}},
		{"delitem", func() error { return p.DelItem(ctx, "k") }, HandleCallAttr,
			[]any{p, "__delitem__", codec.Tuple{"k"}, codec.Tuple{}}},
		{"contains", func() error { _, err := p.Contains(ctx, "k"); return err }, HandleCallAttr,
			[]any{p, "__contains__", codec.Tuple{"k"}, codec.Tuple{}}},
		{"next", func() error { _, err := p.Next(ctx); return err }, HandleCallAttr,
			[]any{p, "__next__", codec.Tuple{}, codec.Tuple{}}},
		{"enter", func() error { _, err := p.Enter(ctx); return err }, HandleCallAttr,
			[]any{p, "__enter__", codec.Tuple{}, codec.Tuple{}}},
		{"exit", func() error { _, err := p.Exit(ctx, errors.New("boom")); return err }, HandleCtxExit, []any{p, nil}},
		{"callasync", func() error { _, err := p.CallAsync(int64(1)); return err }, HandleCall,
			[]any{p, codec.Tuple{int64(1)}, codec.Tuple{}}},
		{"callmethodasync", func() error { _, err := p.CallMethodAsync("m", "a"); return err }, HandleCallAttr,
			[]any{p, "m", codec.Tuple{"a"}, codec.Tuple{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer.answer = func(handler int, args []any) (any, error) {
				switch handler {
				case HandleStr, HandleRepr:
					return "s", nil
				case HandleHash:
					return int64(1), nil
				case HandleDir:
					return codec.Tuple{"a"}, nil
				case HandleCallAttr:
					if args[1] == "__len__" {
						return int64(0), nil
					}
				}
				return nil, nil
			}
			require.NoError(t, tt.op())
			got := peer.last()
			require.Equal(t, tt.handler, got.handler)
			require.Len(t, got.args, len(tt.args))
			for i := range tt.args {
				if px, ok := tt.args[i].(*Proxy); ok {
					require.Same(t, px, got.args[i], "arg %d", i)
					continue
				}
				require.Equal(t, tt.args[i], got.args[i], "arg %d", i)
			}
		})
	}
}

func TestProxyResults(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{answer: func(handler int, args []any) (any, error) {
		switch handler {
		case HandleStr:
			return "str!", nil
		case HandleRepr:
			return "<repr>", nil
		case HandleHash:
			return int64(-42), nil
		case HandleDir:
			return codec.Tuple{"a", "b"}, nil
		case HandleCmp:
			return codec.NotImplemented, nil
		case HandleCtxExit:
			return true, nil
		case HandleCallAttr:
			switch args[1] {
			case "__len__":
				return int64(3), nil
			case "__contains__":
				return int64(1), nil
			}
		}
		return nil, nil
	}}
	p := NewProxy(peer, idList)

	s, err := p.Str(ctx)
	require.NoError(t, err)
	require.Equal(t, "str!", s)
	s, err = p.Repr(ctx)
	require.NoError(t, err)
	require.Equal(t, "<repr>", s)
	h, err := p.Hash(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(-42), h)
	d, err := p.Dir(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, d)
	n, err := p.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	in, err := p.Contains(ctx, "x")
	require.NoError(t, err)
	require.True(t, in, "truthy __contains__ result")
	suppress, err := p.Exit(ctx, nil)
	require.NoError(t, err)
	require.True(t, suppress)

	// NotImplemented: identity decides.
	eq, err := p.Eq(ctx, p)
	require.NoError(t, err)
	require.True(t, eq)
	eq, err = p.Eq(ctx, int64(1))
	require.NoError(t, err)
	require.False(t, eq)

	// A remote exception comes back as is.
	peer.answer = func(int, []any) (any, error) { return nil, codec.NewPyError("KeyError", "k") }
	_, err = p.GetItem(ctx, "k")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Class)

	require.Contains(t, p.String(), "<netref builtins.list 0x7f10>")
}

func TestProxyClose(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{}
	p := NewProxy(peer, idList)
	require.True(t, p.AddRef())
	require.True(t, p.AddRef())
	require.Equal(t, int64(3), p.RefCount())
	require.Equal(t, idList, p.ID())
	require.Same(t, peer, p.Peer().(*fakePeer))

	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	require.Equal(t, []release{{idList, 3}}, peer.releases())
	require.True(t, p.Released())
	require.False(t, p.AddRef(), "a closed proxy takes no new references")

	_, err := p.GetAttr(ctx, "x")
	require.ErrorIs(t, err, ErrReleased)
	_, err = p.CallAsync()
	require.ErrorIs(t, err, ErrReleased)
	for _, err := range p.Iter(ctx) {
		require.ErrorIs(t, err, ErrReleased)
	}
	require.Empty(t, peer.requests())
	require.Contains(t, p.String(), "released")

	runtime.GC()
	runtime.GC()
	require.Len(t, peer.releases(), 1, "no second release from the cleanup")
}

// TestProxyGC proves the cleanup releases a collected proxy exactly once,
// with its count.
func TestProxyGC(t *testing.T) {
	peer := &fakePeer{}
	func() {
		p := NewProxy(peer, idList)
		p.AddRef()
		p.AddRef()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(peer.releases()) == 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, []release{{idList, 3}}, peer.releases())
	for range 5 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.Len(t, peer.releases(), 1)
}

func TestProxyIter(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{}
	p := NewProxy(peer, idList)
	var it *Proxy
	next := 0
	peer.answer = func(handler int, args []any) (any, error) {
		require.Equal(t, HandleCallAttr, handler)
		switch args[1] {
		case "__iter__":
			require.Same(t, p, args[0])
			it = NewProxy(peer, idIter)
			next = 0
			return it, nil
		case "__next__":
			require.Same(t, it, args[0])
			next++
			if next > 3 {
				return nil, stopIteration()
			}
			return int64(next), nil
		}
		return nil, errors.New("unexpected")
	}
	var got []any
	for v, err := range p.Iter(ctx) {
		require.NoError(t, err)
		got = append(got, v)
	}
	require.Equal(t, []any{int64(1), int64(2), int64(3)}, got)
	require.Equal(t, []release{{idIter, 1}}, peer.releases(), "iterator released at the end")

	// Breaking early releases the iterator too.
	for v := range p.Iter(ctx) {
		require.Equal(t, int64(1), v)
		break
	}
	require.Len(t, peer.releases(), 2)

	// An error ends the iteration after being yielded once.
	peer.answer = func(handler int, args []any) (any, error) {
		if args[1] == "__iter__" {
			return p, nil // a generator is its own iterator
		}
		return nil, codec.NewPyError("ValueError", "bad")
	}
	n := 0
	for _, err := range p.Iter(ctx) {
		n++
		require.Error(t, err)
		require.False(t, errors.Is(err, codec.ErrStopIteration))
	}
	require.Equal(t, 1, n)
	require.False(t, p.Released(), "iterating a generator does not close it")

	// A tuple sent by value is iterated locally.
	peer.answer = func(int, []any) (any, error) { return codec.Tuple{"a", "b"}, nil }
	got = nil
	for v, err := range p.Iter(ctx) {
		require.NoError(t, err)
		got = append(got, v)
	}
	require.Equal(t, []any{"a", "b"}, got)
}

func TestProxyNextStopIteration(t *testing.T) {
	peer := &fakePeer{answer: func(int, []any) (any, error) { return nil, stopIteration() }}
	p := NewProxy(peer, idIter)
	_, err := p.Next(context.Background())
	require.ErrorIs(t, err, codec.ErrStopIteration)
}

func TestProxyIsInstance(t *testing.T) {
	ctx := context.Background()
	peer := &fakePeer{answer: func(int, []any) (any, error) { return true, nil }}
	cls := NewProxy(peer, idCls)
	obj := NewProxy(peer, idList)
	ok, err := obj.IsInstance(ctx, cls)
	require.NoError(t, err)
	require.True(t, ok)
	r := peer.last()
	require.Equal(t, HandleInstanceCheck, r.handler)
	require.Same(t, cls, r.args[0])
	require.Equal(t, idList.Tuple(), r.args[1])

	// Same class id: decided locally.
	inst := NewProxy(peer, IDPack{Name: "__main__.Thing", Class: idCls.Class, Instance: 99})
	n := len(peer.requests())
	ok, err = inst.IsInstance(ctx, cls)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, peer.requests(), n)

	_, err = obj.IsInstance(ctx, NewProxy(&fakePeer{}, idCls))
	require.Error(t, err)
}

func TestProxyAsync(t *testing.T) {
	peer := &fakePeer{answer: func(int, []any) (any, error) { return int64(7), nil }}
	p := NewProxy(peer, idList)
	r, err := p.CallAsync(int64(1))
	require.NoError(t, err)
	v, err := r.Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(7), v)
	r, err = p.CallMethodKwAsync("m", []any{int64(1)}, []Kwarg{{"a", int64(2)}})
	require.NoError(t, err)
	require.True(t, r.Ready())
	require.Equal(t, []any{p, "m", codec.Tuple{int64(1)}, codec.Tuple{codec.Tuple{"a", int64(2)}}}, peer.last().args)
}
