package dispatch

import (
	"context"
	"sync"
	"testing"
)

func BenchmarkRegisterDeliver(b *testing.B) {
	t := NewTable()
	b.ReportAllocs()
	for b.Loop() {
		seq, _, err := t.Register()
		if err != nil {
			b.Fatal(err)
		}
		if !t.Deliver(seq, nil, nil) {
			b.Fatal("not delivered")
		}
	}
}

func BenchmarkRegisterDeliverParallel(b *testing.B) {
	t := NewTable()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seq, _, err := t.Register()
			if err != nil {
				b.Fatal(err)
			}
			if !t.Deliver(seq, nil, nil) {
				b.Fatal("not delivered")
			}
		}
	})
}

// BenchmarkCall is a synchronous request answered inside send: Register,
// the expiry timer, Result, and the cleanup.
func BenchmarkCall(b *testing.B) {
	t := NewTable()
	ctx := context.Background()
	send := func(seq int64) error { t.Deliver(seq, nil, nil); return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Call(ctx, t, 0, send); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallWaiting is a synchronous request answered by another
// goroutine, so the caller blocks on the result.
func BenchmarkCallWaiting(b *testing.B) {
	t := NewTable()
	ctx := context.Background()
	wire := make(chan int64, 1)
	go func() {
		for seq := range wire {
			t.Deliver(seq, nil, nil)
		}
	}()
	defer close(wire)
	send := func(seq int64) error { wire <- seq; return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Call(ctx, t, 0, send); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkExecute(b *testing.B, e Executor) {
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		e.Execute(task)
	}
	wg.Wait()
}

func BenchmarkPoolExecute(b *testing.B) {
	p := NewPool(0, 1024)
	defer p.Close()
	benchmarkExecute(b, p)
}

func BenchmarkGoroutinesExecute(b *testing.B) {
	benchmarkExecute(b, Goroutines{})
}

func BenchmarkSerialExecute(b *testing.B) {
	p := NewPool(0, 1024)
	defer p.Close()
	benchmarkExecute(b, NewSerial(p))
}
