package netref

import (
	"context"
	"reflect"
	"testing"

	"github.com/rpycgo/rpycgo/codec"
)

// adder is the benchmark's exposed type.
type adder struct{ n int }

func (a *adder) Add(x int) int { a.n += x; return a.n & 0xff }

// BenchmarkWrapCallMethod is CALLATTR on a struct method with one int
// argument: the path of every exposed method call.
func BenchmarkWrapCallMethod(b *testing.B) {
	ctx := context.Background()
	o := Wrap(&adder{})
	args := codec.Tuple{int64(1)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.CallAttr(ctx, "add", args, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrapCallFunc is CALL on a wrapped func(int, int) int.
func BenchmarkWrapCallFunc(b *testing.B) {
	ctx := context.Background()
	o := Wrap(func(a, c int) int { return (a + c) & 0xff })
	args := codec.Tuple{int64(1), int64(2)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Call(ctx, args, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertInt(b *testing.B) {
	t := reflect.TypeFor[int]()
	var v any = int64(12345)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Convert(v, t); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrap(b *testing.B) {
	c := &Counter{}
	b.ReportAllocs()
	for b.Loop() {
		_ = Wrap(c)
	}
}

func TestCallMethodAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	ctx := context.Background()
	o := Wrap(&adder{})
	args := codec.Tuple{int64(1)}
	n := testing.AllocsPerRun(1000, func() { _, _ = o.CallAttr(ctx, "add", args, nil) })
	if n > 2 {
		t.Fatalf("CallAttr allocates %v times per call, want ≤ 2", n)
	}
}
