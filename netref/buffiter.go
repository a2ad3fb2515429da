package netref

import (
	"context"
	"errors"
	"iter"

	"github.com/rpycgo/rpycgo/codec"
)

// Chunk sizes of BuffIter, those of RPyC's rpyc.buffiter: the first
// HANDLE_BUFFITER asks for BuffIterFirst items, each next one for twice as
// many, up to BuffIterMax.
const (
	BuffIterFirst = 10
	BuffIterMax   = 1000
)

// BuffIter iterates the peer's iterable p in growing chunks, as RPyC's
// rpyc.buffiter does: HANDLE_CALLATTR(p, "__iter__"), then
// HANDLE_BUFFITER(it, 10), (it, 20), (it, 40)... doubling up to 1000 items
// per request, until the peer answers an empty tuple. Iterating n items
// costs about n/1000 + 8 round trips instead of Iter's n + 2; in exchange
// up to a chunk of items is fetched ahead of the loop (a side-effecting
// remote generator runs ahead of the consumer).
//
// A failure is yielded once as (nil, err) and ends the sequence. The
// remote iterator is released when the loop ends (unless it is p itself).
// If __iter__ returns a tuple by value, its items are yielded.
func BuffIter(ctx context.Context, p *Proxy) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		if p == nil {
			yield(nil, errors.New("netref: buffiter of a nil proxy"))
			return
		}
		v, err := p.CallMethod(ctx, "__iter__")
		if err != nil {
			yield(nil, err)
			return
		}
		var it *Proxy
		switch x := v.(type) {
		case *Proxy:
			it = x
		case codec.Tuple:
			for _, item := range x {
				if !yield(item, nil) {
					return
				}
			}
			return
		default:
			yield(nil, codec.Errorf("TypeError", "iter() returned non-iterator of type '%s'", PyTypeName(v)))
			return
		}
		if it != p {
			defer it.Close()
		}
		for count := BuffIterFirst; ; count = min(count*2, BuffIterMax) {
			v, err := it.request(ctx, "buffiter", HandleBuffIter, it, count)
			if err != nil {
				yield(nil, err)
				return
			}
			items, ok := v.(codec.Tuple)
			if !ok {
				yield(nil, codec.Errorf("TypeError", "buffiter returned %s, not a tuple", PyTypeName(v)))
				return
			}
			if len(items) == 0 {
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
		}
	}
}
