package registry

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Backend stores the registrations a registry server answers from. Names
// reach it already upper-cased. Implementations must be safe for concurrent
// use (one Backend may serve a UDP and a TCP server at once); an error makes
// the server drop the request without a reply, as rpyc does when a command
// raises.
type Backend interface {
	// Register stores ep under every name with the time at, or refreshes the
	// time of an existing entry, and returns the names under which ep is new.
	Register(ctx context.Context, names []string, ep Endpoint, at time.Time) (joined []string, err error)
	// Unregister removes ep from every name and returns the names it was
	// removed from.
	Unregister(ctx context.Context, ep Endpoint) (left []string, err error)
	// Prune removes the entries of name registered (or refreshed) before
	// cutoff and returns them.
	Prune(ctx context.Context, name string, cutoff time.Time) (pruned []Endpoint, err error)
	// Query returns the endpoints of name, oldest registration first.
	Query(ctx context.Context, name string) ([]Endpoint, error)
	// List returns the registered names, in the order they first appeared;
	// with a non-empty filterHost only the names one of whose endpoints has
	// that host.
	List(ctx context.Context, filterHost string) ([]string, error)
}

// MemoryBackend is the in-memory Backend, rpyc's dict of dicts: names keep
// the order in which they appeared, a name disappears with its last
// endpoint, and endpoints keep their first-registration order (refreshes
// change only their time).
type MemoryBackend struct {
	mu    sync.Mutex
	names []string
	byKey map[string]*service
}

type service struct {
	eps  []Endpoint // first-registration order
	seen map[Endpoint]time.Time
}

// NewMemoryBackend returns an empty MemoryBackend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{byKey: make(map[string]*service)}
}

// Register implements Backend.
func (m *MemoryBackend) Register(_ context.Context, names []string, ep Endpoint, at time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var joined []string
	for _, n := range names {
		s := m.byKey[n]
		if s == nil {
			s = &service{seen: make(map[Endpoint]time.Time)}
			m.byKey[n] = s
			m.names = append(m.names, n)
		}
		if _, ok := s.seen[ep]; !ok {
			s.eps = append(s.eps, ep)
			joined = append(joined, n)
		}
		s.seen[ep] = at
	}
	return joined, nil
}

// remove drops ep from name; m.mu is held.
func (m *MemoryBackend) remove(name string, ep Endpoint) bool {
	s := m.byKey[name]
	if s == nil {
		return false
	}
	if _, ok := s.seen[ep]; !ok {
		return false
	}
	delete(s.seen, ep)
	s.eps = slices.DeleteFunc(s.eps, func(e Endpoint) bool { return e == ep })
	if len(s.eps) == 0 {
		delete(m.byKey, name)
		m.names = slices.DeleteFunc(m.names, func(n string) bool { return n == name })
	}
	return true
}

// Unregister implements Backend.
func (m *MemoryBackend) Unregister(_ context.Context, ep Endpoint) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var left []string
	for _, n := range slices.Clone(m.names) {
		if m.remove(n, ep) {
			left = append(left, n)
		}
	}
	return left, nil
}

// Prune implements Backend.
func (m *MemoryBackend) Prune(_ context.Context, name string, cutoff time.Time) ([]Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byKey[name]
	if s == nil {
		return nil, nil
	}
	var stale []Endpoint
	for _, ep := range m.sorted(s) {
		if s.seen[ep].Before(cutoff) {
			stale = append(stale, ep)
		}
	}
	for _, ep := range stale {
		m.remove(name, ep)
	}
	return stale, nil
}

// sorted returns s's endpoints by time, oldest first, ties in
// first-registration order (Python's stable sort over the dict).
func (m *MemoryBackend) sorted(s *service) []Endpoint {
	eps := slices.Clone(s.eps)
	slices.SortStableFunc(eps, func(a, b Endpoint) int { return s.seen[a].Compare(s.seen[b]) })
	return eps
}

// Query implements Backend.
func (m *MemoryBackend) Query(_ context.Context, name string) ([]Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byKey[name]
	if s == nil {
		return nil, nil
	}
	return m.sorted(s), nil
}

// List implements Backend.
func (m *MemoryBackend) List(_ context.Context, filterHost string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if filterHost == "" {
		return slices.Clone(m.names), nil
	}
	var out []string
	for _, n := range m.names {
		if slices.ContainsFunc(m.byKey[n].eps, func(e Endpoint) bool { return e.Host == filterHost }) {
			out = append(out, n)
		}
	}
	return out, nil
}
