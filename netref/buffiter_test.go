package netref_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// buffIterRequests is the number of HANDLE_BUFFITER requests rpyc.buffiter
// sends for n items: chunks 10, 20, 40, ... 640, then 1000 each, then one
// request answered with the empty tuple.
func buffIterRequests(n int) int {
	reqs := 0
	for count := netref.BuffIterFirst; n > 0; count = min(count*2, netref.BuffIterMax) {
		n -= count
		reqs++
	}
	return reqs + 1
}

func TestBuffIterRoundTrips(t *testing.T) {
	require.Equal(t, 7+99+1, buffIterRequests(100000))
	addr := startClassic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, cc := dialCounting(t, addr)
	root, err := c.Root(ctx)
	require.NoError(t, err)
	v, err := root.CallMethod(ctx, "eval", "range(100000)")
	require.NoError(t, err)
	rng := v.(*netref.Proxy)
	cc.snapshot()

	sum, n := int64(0), 0
	for x, err := range netref.BuffIter(ctx, rng) {
		require.NoError(t, err)
		i, ok := codec.ToInt64(x)
		require.True(t, ok)
		require.EqualValues(t, n, i, "items in order")
		sum += i
		n++
	}
	require.Equal(t, 100000, n)
	require.EqualValues(t, int64(99999*100000/2), sum)
	counts := cc.snapshot()
	require.Equal(t, 1, counts[netref.HandleCallAttr], "one __iter__")
	require.Equal(t, buffIterRequests(100000), counts[netref.HandleBuffIter])

	// Proxy.Iter costs one round trip per item; measured on 1000 items.
	v, err = root.CallMethod(ctx, "eval", "range(1000)")
	require.NoError(t, err)
	cc.snapshot()
	n = 0
	for _, err := range v.(*netref.Proxy).Iter(ctx) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 1000, n)
	counts = cc.snapshot()
	require.Equal(t, 1+1000+1, counts[netref.HandleCallAttr], "__iter__, 1000 __next__, the StopIteration one")
	t.Logf("range(100000): BuffIter %d requests; Iter would need %d", 1+buffIterRequests(100000), 100002)
}

func TestBuffIterEdgeCases(t *testing.T) {
	addr := startClassic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _ := dialCounting(t, addr)
	root, err := c.Root(ctx)
	require.NoError(t, err)

	// An empty iterable and early break.
	v, err := root.CallMethod(ctx, "eval", "iter([])")
	require.NoError(t, err)
	for range netref.BuffIter(ctx, v.(*netref.Proxy)) {
		t.Fatal("no items expected")
	}
	v, err = root.CallMethod(ctx, "eval", "(x * x for x in range(50))")
	require.NoError(t, err)
	var got []any
	for x, err := range netref.BuffIter(ctx, v.(*netref.Proxy)) {
		require.NoError(t, err)
		got = append(got, x)
		if len(got) == 3 {
			break
		}
	}
	require.Equal(t, []any{int64(0), int64(1), int64(4)}, got)

	// A remote error is yielded once.
	v, err = root.CallMethod(ctx, "eval", "(1 // (3 - x) for x in range(5))")
	require.NoError(t, err)
	var errs []error
	for _, err := range netref.BuffIter(ctx, v.(*netref.Proxy)) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	require.Len(t, errs, 1)
	var pe *codec.PyError
	require.ErrorAs(t, errs[0], &pe)
	require.Equal(t, "ZeroDivisionError", pe.Class)

	// Not iterable.
	v, err = root.CallMethod(ctx, "eval", "object()")
	require.NoError(t, err)
	errs = nil
	for _, err := range netref.BuffIter(ctx, v.(*netref.Proxy)) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	require.ErrorAs(t, errs[0], &pe)
	require.Equal(t, "AttributeError", pe.Class)
}

// BenchmarkIterVsBuffIter iterates a remote range(10000) on a real
// rpyc_classic with Proxy.Iter (a round trip per item) and with BuffIter
// (chunks of up to 1000), reporting requests per loop.
func BenchmarkIterVsBuffIter(b *testing.B) {
	addr := startClassic(b)
	ctx := context.Background()
	c, cc := dialCounting(b, addr)
	root, err := c.Root(ctx)
	require.NoError(b, err)
	for _, mode := range []string{"Iter", "BuffIter"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			cc.snapshot()
			for b.Loop() {
				v, err := root.CallMethod(ctx, "eval", "range(10000)")
				require.NoError(b, err)
				p := v.(*netref.Proxy)
				seq := p.Iter(ctx)
				if mode == "BuffIter" {
					seq = netref.BuffIter(ctx, p)
				}
				n := 0
				for _, err := range seq {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 10000 {
					b.Fatalf("got %d items", n)
				}
				p.Close()
			}
			total := 0
			for _, v := range cc.snapshot() {
				total += v
			}
			b.ReportMetric(float64(total)/float64(b.N), "requests/op")
		})
	}
}
