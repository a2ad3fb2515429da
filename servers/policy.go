package servers

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/reactor"
)

// policy decides where a server's requests run.
type policy interface {
	// executor returns the executor of one connection's requests; every
	// task it runs is counted in tasks while it runs.
	executor(se *session, tasks *counter) dispatch.Executor
	// close stops the policy's goroutines once no request is left.
	close()
}

// wrap returns task counted in tasks and in its connection's running
// requests. tasks.add has been called.
func wrap(se *session, tasks *counter, task func()) func() {
	return func() {
		se.running.Add(1)
		defer tasks.done()
		defer se.running.Add(-1)
		task()
		if se.s.cfg.idleTimeout > 0 { // idle from the end of the request
			se.lastActive.Store(time.Now().UnixNano())
		}
	}
}

// threadedPolicy runs every request on a goroutine of its own.
type threadedPolicy struct{}

func newThreadedPolicy() policy { return threadedPolicy{} }

func (threadedPolicy) executor(se *session, tasks *counter) dispatch.Executor {
	return &threadedExec{se: se, tasks: tasks}
}

func (threadedPolicy) close() {}

type threadedExec struct {
	se    *session
	tasks *counter
}

func (e *threadedExec) Execute(task func()) {
	e.tasks.add()
	go wrap(e.se, e.tasks, task)()
}

// poolPolicy runs requests on a fixed set of workers fed by a bounded
// queue, never blocking an event loop, and overflowing to goroutines for
// requests nested in requests of the same connection (see NewThreadPool).
type poolPolicy struct {
	log     zerolog.Logger
	workers int
	qmax    int

	mu       sync.Mutex
	work     sync.Cond // workers wait here for tasks
	room     sync.Cond // stdnet submitters wait here for queue room
	q        []func()
	head     int
	idle     int
	closed   bool
	wg       sync.WaitGroup
	lastWarn time.Time

	// overflowed counts requests run on overflow goroutines; saturated
	// those queued past the bound.
	overflowed atomic.Int64
	saturated  atomic.Int64
}

func newPoolPolicy(workers, queue int, log zerolog.Logger) *poolPolicy {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if queue <= 0 {
		queue = workers * DefaultQueuePerWorker
	}
	p := &poolPolicy{log: log, workers: workers, qmax: queue}
	p.work.L = &p.mu
	p.room.L = &p.mu
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

func (p *poolPolicy) executor(se *session, tasks *counter) dispatch.Executor {
	return &poolExec{p: p, se: se, tasks: tasks}
}

func (p *poolPolicy) queued() int { return len(p.q) - p.head }

func (p *poolPolicy) push(t func()) {
	if p.head > 0 && len(p.q) == cap(p.q) {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q = p.q[:n]
		p.head = 0
	}
	p.q = append(p.q, t)
	p.work.Signal()
}

func (p *poolPolicy) worker() {
	defer p.wg.Done()
	p.mu.Lock()
	for {
		for p.queued() == 0 && !p.closed {
			p.idle++
			p.work.Wait()
			p.idle--
		}
		if p.queued() == 0 {
			p.mu.Unlock()
			return
		}
		t := p.q[p.head]
		p.q[p.head] = nil
		p.head++
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
		}
		p.room.Signal()
		p.mu.Unlock()
		t()
		p.mu.Lock()
	}
}

func (p *poolPolicy) close() {
	p.mu.Lock()
	p.closed = true
	p.work.Broadcast()
	p.room.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

type poolExec struct {
	p     *poolPolicy
	se    *session
	tasks *counter
}

// Execute implements dispatch.Executor. It never blocks a gnet or netpoll
// loop; on stdnet, whose handler runs on the connection's own goroutine,
// it waits for queue room, which stops that connection's reads.
func (e *poolExec) Execute(task func()) {
	p := e.p
	e.tasks.add()
	run := wrap(e.se, e.tasks, task)
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		go run()
		return
	case p.idle > p.queued():
		// A worker is free: it takes the task at once.
	case e.se.running.Load() > 0:
		// Every worker is busy and this connection has requests running,
		// which may be waiting for this one (a nested callback): never make
		// it wait behind the pool.
		p.mu.Unlock()
		p.overflowed.Add(1)
		go run()
		return
	case p.queued() >= p.qmax:
		if e.se.rc.Engine() == reactor.EngineStdnet {
			for p.queued() >= p.qmax && !p.closed {
				p.room.Wait()
			}
			if p.closed {
				p.mu.Unlock()
				go run()
				return
			}
			break
		}
		p.saturated.Add(1)
		if now := time.Now(); now.Sub(p.lastWarn) > time.Second {
			p.lastWarn = now
			p.log.Warn().Int("workers", p.workers).Int("queue", p.qmax).
				Msg("thread pool saturated: requests wait past the queue bound")
		}
	}
	p.push(run)
	p.mu.Unlock()
}
