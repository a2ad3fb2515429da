package dispatch

import (
	"runtime"
	"sync"
)

// Executor runs tasks: a connection hands it each request from the peer.
// Execute may run the task before it returns, or later on another
// goroutine; it may block (back-pressure) but must not drop the task.
// The executors here recover a panicking task and report it to their
// OnPanic function, if set, so one bad request kills neither the worker
// nor the process.
type Executor interface {
	Execute(task func())
}

// runTask runs task, recovering a panic and reporting it to onPanic.
func runTask(task func(), onPanic func(any)) {
	defer func() {
		if p := recover(); p != nil && onPanic != nil {
			onPanic(p)
		}
	}()
	task()
}

// Inline runs each task on the goroutine that calls Execute, before Execute
// returns. Use it only for handlers that never wait for the peer: a task
// that does would stop the connection from reading the reply it waits for.
type Inline struct {
	// OnPanic, if set, receives the value of a task's recovered panic.
	OnPanic func(any)
}

// Execute runs task now, on the calling goroutine.
func (e Inline) Execute(task func()) { runTask(task, e.OnPanic) }

// Goroutines runs each task on a new goroutine: no limit and no queue, like
// RPyC's ThreadedServer running every connection's requests freely.
type Goroutines struct {
	// OnPanic, if set, receives the value of a task's recovered panic. It
	// runs on the task's goroutine.
	OnPanic func(any)
}

// Execute starts task on a new goroutine and returns at once.
func (e Goroutines) Execute(task func()) { go runTask(task, e.OnPanic) }

// Pool runs tasks on a fixed set of worker goroutines fed by a bounded
// queue. Execute blocks while the queue is full, which pushes back on the
// connection that submits (it stops reading until a worker frees up).
// A task must therefore not submit to its own pool and wait for that
// submission when the queue may be full.
type Pool struct {
	// OnPanic, if set, receives the value of a task's recovered panic. It
	// runs on the worker. Set it before the first Execute.
	OnPanic func(any)

	tasks   chan func()
	mu      sync.RWMutex
	closed  bool
	sending sync.WaitGroup // Execute calls between the closed check and the send
	workers sync.WaitGroup
	once    sync.Once
}

// NewPool starts workers goroutines (runtime.GOMAXPROCS(0) if workers <= 0)
// that take tasks from a queue of queue slots (0, or less, makes Execute
// wait until a worker takes the task).
func NewPool(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queue < 0 {
		queue = 0
	}
	p := &Pool{tasks: make(chan func(), queue)}
	p.workers.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

func (p *Pool) work() {
	defer p.workers.Done()
	for task := range p.tasks {
		runTask(task, p.OnPanic)
	}
}

// Execute queues task for a worker, blocking while the queue is full.
// After Close it runs the task on a new goroutine instead, so no task is
// ever lost.
func (p *Pool) Execute(task func()) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		go runTask(task, p.OnPanic)
		return
	}
	p.sending.Add(1)
	p.mu.RUnlock()
	p.tasks <- task
	p.sending.Done()
}

// Close stops taking tasks into the queue, lets the workers finish every
// task already queued (or being queued by a blocked Execute), and returns
// when all workers have exited. It may be called more than once; every call
// waits. It must not be called from one of the pool's own tasks.
func (p *Pool) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.sending.Wait()
		close(p.tasks)
	})
	p.workers.Wait()
}

// Serial runs the tasks given to it one at a time, strictly in the order
// Execute was called, on an underlying Executor. It parks no goroutine
// while idle: when a task arrives and none is running, it submits one
// drainer to the underlying executor, which runs queued tasks until the
// queue is empty. Under a steady stream the drainer keeps its worker
// until the stream pauses. A connection uses it to keep the peer's
// requests in arrival order where order matters.
type Serial struct {
	// OnPanic, if set, receives the value of a task's recovered panic. It
	// runs on the drainer. Set it before the first Execute.
	OnPanic func(any)

	exec    Executor
	drainFn func()

	mu      sync.Mutex
	queue   []func()
	head    int
	running bool
}

// NewSerial returns a Serial that runs its tasks on exec (Goroutines if
// exec is nil).
func NewSerial(exec Executor) *Serial {
	if exec == nil {
		exec = Goroutines{}
	}
	s := &Serial{exec: exec}
	s.drainFn = s.drain
	return s
}

// Execute queues task behind every task given before it. If no drainer is
// running it submits one to the underlying executor, which may block or
// (for Inline) run the whole queue before Execute returns.
func (s *Serial) Execute(task func()) {
	s.mu.Lock()
	if s.head > 0 && len(s.queue) == cap(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.head = 0
	}
	s.queue = append(s.queue, task)
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	s.exec.Execute(s.drainFn)
}

// Len returns the number of tasks queued and not yet started.
func (s *Serial) Len() int {
	s.mu.Lock()
	n := len(s.queue) - s.head
	s.mu.Unlock()
	return n
}

// maxIdleSerialQueue is the largest queue a Serial keeps while idle.
const maxIdleSerialQueue = 1024

func (s *Serial) drain() {
	for {
		s.mu.Lock()
		if s.head == len(s.queue) {
			if cap(s.queue) > maxIdleSerialQueue {
				s.queue = nil // let a burst's backing array go
			} else {
				s.queue = s.queue[:0]
			}
			s.head = 0
			s.running = false
			s.mu.Unlock()
			return
		}
		task := s.queue[s.head]
		s.queue[s.head] = nil
		s.head++
		s.mu.Unlock()
		runTask(task, s.OnPanic)
	}
}
