package netref

import (
	"context"
	"fmt"
	"io"
	"iter"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// generator is a "builtins.generator": __iter__ returns itself, __next__
// yields the next item or raises StopIteration.
type generator struct {
	orig any
	name string // for repr: "<generator object NAME at 0x...>"
	st   *genState
}

// genState is the iteration, apart from the adapter so that a cleanup can
// stop an unfinished iteration when the adapter is collected.
type genState struct {
	mu   sync.Mutex
	next func(ctx context.Context) (v any, ok bool, err error)
	stop func()
	done bool
}

func newGenerator(orig any, name string, next func(context.Context) (any, bool, error), stop func()) *generator {
	st := &genState{next: next, stop: stop}
	g := &generator{orig: orig, name: name, st: st}
	if stop != nil {
		runtime.AddCleanup(g, (*genState).close, st)
	}
	return g
}

// step returns the next item, StopIteration at the end. Calls are
// serialised: a generator runs one step at a time.
func (s *genState) step(ctx context.Context) (v any, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, codec.StopIteration()
	}
	defer func() {
		if r := recover(); r != nil {
			s.finishLocked()
			v, err = nil, recoverError(r)
		}
	}()
	v, ok, err := s.next(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.finishLocked()
		return nil, codec.StopIteration()
	}
	return v, nil
}

func (s *genState) finishLocked() {
	if s.done {
		return
	}
	s.done = true
	s.next = nil
	if s.stop != nil {
		stop := s.stop
		s.stop = nil
		stop()
	}
}

// close ends the iteration (Python's generator.close()).
func (s *genState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked()
}

// newPullGenerator drives seq with iter.Pull.
func newPullGenerator(seq iter.Seq[any], name string) *generator {
	next, stop := iter.Pull(seq)
	return newGenerator(seq, name, func(context.Context) (any, bool, error) {
		v, ok := next()
		return v, ok, nil
	}, stop)
}

// newSeqGenerator adapts a func of the range-over-func shape (isSeqFunc).
func newSeqGenerator(orig any, rv reflect.Value) *generator {
	var seq iter.Seq[any]
	switch f := orig.(type) {
	case iter.Seq[any]:
		seq = f
	case func(func(any) bool):
		seq = f
	case iter.Seq2[any, any]:
		seq = func(yield func(any) bool) {
			f(func(k, v any) bool { return yield(codec.Tuple{k, v}) })
		}
	default:
		yt := rv.Type().In(0)
		two := yt.NumIn() == 2
		seq = func(yield func(any) bool) {
			y := reflect.MakeFunc(yt, func(in []reflect.Value) []reflect.Value {
				var v any
				if two {
					v = codec.Tuple{in[0].Interface(), in[1].Interface()}
				} else {
					v = in[0].Interface()
				}
				return []reflect.Value{reflect.ValueOf(yield(v))}
			})
			rv.Call([]reflect.Value{y})
		}
	}
	g := newPullGenerator(seq, funcName(rv))
	g.orig = orig
	return g
}

// newIteratorGenerator adapts an Iterator; an io.Closer is closed at the
// end.
func newIteratorGenerator(orig any, it Iterator) *generator {
	var stop func()
	if c, ok := it.(io.Closer); ok {
		stop = func() { _ = c.Close() }
	}
	return newGenerator(orig, goTypeName(reflect.TypeOf(orig)), it.Next, stop)
}

// newChanGenerator receives from a channel until it is closed; a __next__
// waits for the next value as long as the request's ctx allows.
func newChanGenerator(orig any, rv reflect.Value) *generator {
	next := func(ctx context.Context) (any, bool, error) {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: rv}}
		if ctx != nil && ctx.Done() != nil {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
		}
		i, v, ok := reflect.Select(cases)
		if i == 1 {
			return nil, false, ctx.Err()
		}
		if !ok {
			return nil, false, nil
		}
		return resultValue(v), true, nil
	}
	return newGenerator(orig, "chan", next, nil)
}

// newItemsGenerator yields the items of a snapshot.
func newItemsGenerator(orig any, name string, items []any) *generator {
	i := 0
	return newGenerator(orig, name, func(context.Context) (any, bool, error) {
		if i >= len(items) {
			return nil, false, nil
		}
		v := items[i]
		i++
		return v, true, nil
	}, nil)
}

func (g *generator) unwrap() any { return g.orig }

func (g *generator) addr() uintptr { return uintptr(unsafe.Pointer(g)) }

// Close ends the iteration and releases what it holds (the goroutine of
// an unfinished iter.Pull, an Iterator's io.Closer).
func (g *generator) Close() error {
	g.st.close()
	return nil
}

func (g *generator) TypeName() string  { return "builtins.generator" }
func (g *generator) Inspect() []string { return []string{"__iter__", "__next__"} }

var generatorDir = []string{"__doc__", "__iter__", "__name__", "__next__", "close"}

func (g *generator) GetAttr(ctx context.Context, name string) (any, error) {
	switch name {
	case "__iter__", "__next__", "close":
		return &boundMethod{owner: g, name: name}, nil
	case "__name__", "__qualname__":
		return g.name, nil
	case "__doc__":
		return nil, nil
	}
	return nil, attributeError("generator", name)
}

func (g *generator) SetAttr(ctx context.Context, name string, value any) error {
	return attributeError("generator", name)
}

func (g *generator) DelAttr(ctx context.Context, name string) error {
	return attributeError("generator", name)
}

func (g *generator) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return nil, typeErrorf("'generator' object is not callable")
}

func (g *generator) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	switch name {
	case "__iter__":
		if err := checkArgs("generator", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return g, nil
	case "__next__":
		if err := checkArgs("generator", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return g.st.step(ctx)
	case "close":
		if err := checkArgs("generator", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		g.st.close()
		return nil, nil
	}
	return nil, attributeError("generator", name)
}

func (g *generator) Str(ctx context.Context) (string, error) { return g.Repr(ctx) }

func (g *generator) Repr(ctx context.Context) (string, error) {
	return fmt.Sprintf("<generator object %s at 0x%x>", g.name, g.addr()), nil
}

func (g *generator) Hash(ctx context.Context) (int64, error) { return identityHash(g.addr()), nil }

func (g *generator) Dir(ctx context.Context) ([]string, error) {
	return append([]string(nil), generatorDir...), nil
}

func (g *generator) Cmp(ctx context.Context, other any, op string) (any, error) {
	o, _ := other.(Object)
	return eqResult(op, o == Object(g)), nil
}
