package netref

import (
	"context"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
)

// request is one request a fakePeer received.
type request struct {
	handler int
	args    []any
}

type release struct {
	id    IDPack
	count int64
}

// fakePeer is an in-memory Peer: it records requests and answers them with
// a scripted function (None when there is none).
type fakePeer struct {
	mu       sync.Mutex
	reqs     []request
	released []release
	answer   func(handler int, args []any) (any, error)
}

func (f *fakePeer) Request(ctx context.Context, handler int, args ...any) (any, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, request{handler, args})
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		return nil, nil
	}
	return answer(handler, args)
}

func (f *fakePeer) RequestAsync(handler int, args ...any) (*dispatch.AsyncResult, error) {
	v, err := f.Request(context.Background(), handler, args...)
	r := dispatch.NewAsyncResult(int64(len(f.requests())))
	r.Complete(v, err)
	return r, nil
}

func (f *fakePeer) Release(id IDPack, count int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, release{id, count})
}

func (f *fakePeer) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func (f *fakePeer) releases() []release {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]release(nil), f.released...)
}

func (f *fakePeer) last() request {
	r := f.requests()
	if len(r) == 0 {
		return request{}
	}
	return r[len(r)-1]
}

// stopIteration is the error a peer's __next__ answers at the end.
func stopIteration() error { return codec.StopIteration() }
