package bench

import (
	"context"
	"time"

	"github.com/rpycgo/rpycgo/conn"
)

// rpycWorker drives one RPyC connection.
type rpycWorker struct {
	c  *conn.Conn
	cl *caller
}

func (wk *rpycWorker) close() { _ = wk.c.Close() }

func (wk *rpycWorker) run(ctx context.Context, v *loopView) error {
	if v.window <= 1 {
		for {
			ok, measured := v.begin()
			if !ok {
				return nil
			}
			start := time.Now()
			err := wk.cl.call(ctx)
			v.done(start, measured, err)
			if err != nil && wk.c.Closed() {
				return nil
			}
		}
	}
	type inflight struct {
		start    time.Time
		measured bool
		res      asyncResult
	}
	q := make(chan inflight, v.window-1)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for f := range q {
			err := f.res.Wait(ctx)
			v.done(f.start, f.measured, err)
		}
	}()
	defer func() { close(q); <-collected }()
	for {
		ok, measured := v.begin()
		if !ok {
			return nil
		}
		start := time.Now()
		res, err := wk.cl.callAsync()
		if err != nil {
			v.done(start, measured, err)
			if wk.c.Closed() {
				return nil
			}
			continue
		}
		select {
		case q <- inflight{start, measured, res}:
		case <-ctx.Done():
			return nil
		}
	}
}

// rawWorker drives one raw connection.
type rawWorker struct{ rc *rawConn }

func (wk *rawWorker) close() { _ = wk.rc.Close() }

func (wk *rawWorker) run(ctx context.Context, v *loopView) error {
	stop := context.AfterFunc(ctx, func() { _ = wk.rc.nc.SetDeadline(time.Now()) })
	defer stop()
	if v.window <= 1 {
		for {
			ok, measured := v.begin()
			if !ok {
				return nil
			}
			start := time.Now()
			err := wk.rc.send()
			if err == nil {
				_, err = wk.rc.recv()
			}
			v.done(start, measured, err)
			if err != nil {
				return nil
			}
		}
	}
	type inflight struct {
		start    time.Time
		measured bool
	}
	q := make(chan inflight, v.window)
	readErr := make(chan error, 1)
	go func() {
		for {
			n, err := wk.rc.recv()
			for range n {
				f, ok := <-q
				if !ok {
					readErr <- nil
					return
				}
				v.done(f.start, f.measured, nil)
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	var err error
	for {
		ok, measured := v.begin()
		if !ok {
			break
		}
		select {
		case q <- inflight{time.Now(), measured}:
		case err = <-readErr:
		}
		if err != nil {
			break
		}
		if err = wk.rc.send(); err != nil {
			break
		}
	}
	// Drain: wait (bounded) for the replies of calls in flight.
	deadline := time.Now().Add(2 * time.Second)
	for len(q) > 0 && time.Now().Before(deadline) && err == nil {
		select {
		case err = <-readErr:
		case <-time.After(time.Millisecond):
		}
	}
	_ = wk.rc.nc.SetDeadline(time.Now())
	if err == nil {
		<-readErr
	}
	return nil
}
