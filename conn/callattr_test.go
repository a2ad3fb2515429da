package conn

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// RequestCallAttr encodes exactly what the generic Request encodes for the
// same CALLATTR, whatever the arguments: plain values, values sent by
// reference, the peer's own proxies, nesting of both.
func TestCallAttrFastPathBytes(t *testing.T) {
	fn := func(context.Context, int64) (any, error) { return nil, nil }
	cases := []func(root *netref.Proxy) []any{
		func(*netref.Proxy) []any { return nil },
		func(*netref.Proxy) []any { return []any{} },
		func(*netref.Proxy) []any { return []any{int64(42)} },
		func(*netref.Proxy) []any { return []any{"x", []byte("raw"), 1.5, nil, true} },
		func(*netref.Proxy) []any { return []any{codec.Tuple{int64(1), codec.Tuple{"a"}}} },
		func(*netref.Proxy) []any { return []any{fn} },
		func(root *netref.Proxy) []any { return []any{root} },
		func(root *netref.Proxy) []any { return []any{int64(1), codec.Tuple{root, fn}, "é"} },
	}
	// Each encoding on a fresh connection: a value sent by reference gets
	// a new id each time it is exported.
	encode := func(fast bool, args func(*netref.Proxy) []any) []byte {
		client, _ := pipePair(t, &testRoot{})
		root := mustRoot(t, client)
		var b []byte
		var err error
		if fast {
			b, err = client.appendCallAttrArgs(nil, root, "echo", args(root))
		} else {
			b, err = client.appendBoxItems(nil, []any{root, "echo", argsTupleOf(args(root)), codec.Tuple{}})
		}
		require.NoError(t, err)
		return b
	}
	for i, args := range cases {
		require.Equal(t, encode(false, args), encode(true, args), "case %d", i)
	}

	client, _ := pipePair(t, &testRoot{})
	ctx := ctxT(t)
	root := mustRoot(t, client)
	_, err := client.appendCallAttrArgs(nil, root, "bad\xff", nil)
	require.ErrorIs(t, err, codec.ErrUnencodable)

	// And through a proxy: CallMethod takes the fast path and works.
	v, err := root.CallMethod(ctx, "echo", int64(5))
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	var _ netref.CallAttrRequester = client
}

// argsTupleOf is netref's argsTuple: nil becomes the empty tuple.
func argsTupleOf(args []any) codec.Tuple {
	if args == nil {
		return codec.Tuple{}
	}
	return codec.Tuple(args)
}

// blobRoot returns large bytes from small requests.
type blobRoot struct{}

func (blobRoot) Blob(seed int64) []byte {
	b := make([]byte, 64<<10)
	b[0], b[len(b)-1] = byte(seed), byte(seed)
	return b
}

// A large bytes reply is decoded in Keep mode: recycled, its memory takes a
// later reply of the same size (the pool is the process's: here nothing
// else decodes a value that size).
func TestLargeReplyRecycled(t *testing.T) {
	client, _ := pipePair(t, blobRoot{})
	ctx := ctxT(t)
	root := mustRoot(t, client)
	blob := func(seed int64) []byte {
		v, err := root.CallMethod(ctx, "blob", seed)
		require.NoError(t, err)
		b := v.([]byte)
		require.Len(t, b, 64<<10)
		require.Equal(t, byte(seed), b[0])
		require.Equal(t, byte(seed), b[len(b)-1])
		return b
	}
	kept := blob(1)
	reused := false
	for i := int64(2); i < 22 && !reused; i++ {
		first := blob(i)
		p := &first[0]
		codec.Recycle(first)
		second := blob(i + 100)
		reused = &second[0] == p
	}
	require.True(t, reused, "a recycled reply's memory took a later one")
	require.Equal(t, byte(1), kept[0], "a reply not recycled is left alone")
}
