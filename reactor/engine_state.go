package reactor

import "sync"

// closer is a connection or listener an engine closes at Engine.Close.
type closer interface{ Close() error }

// trackedConn is a connection an engine tracks: its connBase holds its
// place in the engine's list.
type trackedConn interface {
	Close() error
	base() *connBase
}

// engineState is the bookkeeping every engine shares: whether it is
// closed, its live connections and listeners, and the goroutines it waits
// for in Close.
type engineState struct {
	mu     sync.Mutex
	closed bool
	// conns are the live connections, each at the index its connBase's
	// slot holds (a slice rather than a map: 16 bytes a connection, not
	// 45, for tens of thousands of idle ones).
	conns []trackedConn
	lns   map[closer]struct{}
	// connWG counts tracked connections until their OnClose has returned.
	connWG sync.WaitGroup
	// wg counts the other goroutines the engine started.
	wg sync.WaitGroup
}

func (s *engineState) init() {
	s.lns = make(map[closer]struct{})
}

func (s *engineState) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// trackConn registers a connection whose OnClose the engine will wait for.
// It returns false when the engine is closed.
func (s *engineState) trackConn(c trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	c.base().slot = int32(len(s.conns))
	s.conns = append(s.conns, c)
	s.connWG.Add(1)
	return true
}

// connDone ends the tracking of c once its OnClose has returned.
func (s *engineState) connDone(c trackedConn) {
	s.mu.Lock()
	b := c.base()
	if i := int(b.slot); i >= 0 && i < len(s.conns) && s.conns[i] == c {
		last := len(s.conns) - 1
		s.conns[i] = s.conns[last]
		s.conns[i].base().slot = int32(i)
		s.conns[last] = nil
		s.conns = s.conns[:last]
		b.slot = -1
		// Give back the memory of a crowd that has left.
		if c := cap(s.conns); c > 1024 && len(s.conns) < c/4 {
			s.conns = append([]trackedConn(nil), s.conns...)
		}
	}
	s.mu.Unlock()
	s.connWG.Done()
}

// goTracked runs f on a goroutine Close waits for; it returns false, not
// running f, when the engine is closed.
func (s *engineState) goTracked(f func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// goForConn runs f on a goroutine Close waits for. The caller must act for
// a tracked connection whose connDone has not run: its count keeps connWG
// above zero, so the Add is safe even while Close waits.
func (s *engineState) goForConn(f func()) {
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		f()
	}()
}

func (s *engineState) trackListener(l closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.lns[l] = struct{}{}
	return true
}

func (s *engineState) untrackListener(l closer) {
	s.mu.Lock()
	delete(s.lns, l)
	s.mu.Unlock()
}

// shut marks the engine closed and returns what was live. first is false
// when the engine was closed already.
func (s *engineState) shut() (lns, conns []closer, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, false
	}
	s.closed = true
	for l := range s.lns {
		lns = append(lns, l)
	}
	conns = make([]closer, len(s.conns))
	for i, c := range s.conns {
		conns[i] = c
	}
	return lns, conns, true
}

// wait returns when every tracked connection and goroutine has ended.
func (s *engineState) wait() {
	s.connWG.Wait()
	s.wg.Wait()
}
