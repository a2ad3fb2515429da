package services

import (
	"context"
	"fmt"
	"iter"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Version is the project's version string: the CONFORMANCE service's
// version attribute.
const Version = "0.1.0"

// MaxBlob is the largest blob(n) the CONFORMANCE service builds; larger
// requests raise MemoryError. It keeps the reply under the default frame
// limit of Go peers (codec.DefaultMaxFrame).
const MaxBlob = 48 << 20

// Conformance returns the CONFORMANCE service of
// shared/conformance/SERVICE.md (name "CONFORMANCE", aliases "CONFORMANCE",
// "CONF"), with a fresh ConformanceService per connection.
func Conformance() *Service {
	return PerConn(NewConformanceService, WithAliases("CONFORMANCE", "CONF"), WithLazyAttach())
}

// NewConformanceService returns the CONFORMANCE service value for the
// connection c.
func NewConformanceService(c *conn.Conn) (*ConformanceService, error) {
	return &ConformanceService{Version: Version, Counter: counterClass, conn: c}, nil
}

// ConformanceService is the value behind one connection's CONFORMANCE root.
// Its exported methods and tagged fields are the members of SERVICE.md;
// every method is safe for concurrent use (requests of one connection run
// concurrently).
type ConformanceService struct {
	// Version is the version attribute.
	Version string `rpyc:"version"`
	// Counter is the exposed class: root.Counter(start=0).
	Counter *CounterClass `rpyc:"Counter"`

	conn *conn.Conn

	mu       sync.Mutex
	callback *netref.Proxy
}

// RPyCParams names the parameters that callers may pass by keyword.
func (*ConformanceService) RPyCParams() map[string][]string {
	return map[string][]string{
		"Echo":       {"x"},
		"Add":        {"a", "b"},
		"Divide":     {"a", "b"},
		"RaiseError": {"name", "message"},
		"Call":       {"func"},
		"Map":        {"func", "items"},
		"Sum":        {"iterable"},
		"Length":     {"x"},
		"Sleep":      {"seconds"},
		"Blob":       {"n"},
		"Subscribe":  {"callback"},
		"Fire":       {"n", "payload"},
		"PeerCall":   {"name"},
	}
}

// RPyCInline lists the methods that never wait (netref.InlineNamer): a
// connection serves them on the goroutine that reads it, without a hand-over
// to the server's workers.
func (*ConformanceService) RPyCInline() []string {
	return []string{"Echo", "Add", "Divide", "RaiseError", "Kwargs", "ConnectionID", "Pid", "LiveObjects"}
}

// OnDisconnect drops the subscribed callback.
func (s *ConformanceService) OnDisconnect(*conn.Conn) {
	s.mu.Lock()
	s.callback = nil
	s.mu.Unlock()
}

// Echo returns x unchanged: values by value, references as the same
// reference.
func (s *ConformanceService) Echo(x any) any { return x }

// Add returns a + b for two ints of any size, two floats, an int and a
// float, two str or two bytes; bool is not an int here. Anything else
// raises TypeError.
func (s *ConformanceService) Add(a, b any) (any, error) { return pyAdd(a, b) }

// Divide returns Python's a / b, correctly rounded for ints of any size;
// ZeroDivisionError when b is zero, TypeError unless both are ints (not
// bool) or floats.
func (s *ConformanceService) Divide(a, b any) (float64, error) { return pyTrueDiv(a, b) }

// raisable are the built-in exceptions RaiseError raises by name.
var raisable = map[string]bool{
	"ValueError": true, "KeyError": true, "TypeError": true, "IndexError": true,
	"RuntimeError": true, "AttributeError": true, "NotImplementedError": true,
	"ZeroDivisionError": true, "OSError": true, "StopIteration": true,
}

// RaiseError raises the built-in exception name with message; any name
// outside SERVICE.md's list raises ValueError. StopIteration goes on the
// wire as the bare class (the int 1).
func (s *ConformanceService) RaiseError(name, message string) error {
	switch {
	case name == "StopIteration":
		return codec.StopIteration()
	case raisable[name]:
		return codec.NewPyError(name, message)
	}
	return codec.Errorf("ValueError", "unknown exception name %q", name)
}

// callAny calls fn, the caller's callable (a proxy) or one of this side's
// objects handed back by the peer.
func callAny(ctx context.Context, fn any, args []any, kwargs []netref.Kwarg) (any, error) {
	switch f := fn.(type) {
	case *netref.Proxy:
		return f.CallKw(ctx, args, kwargs)
	case nil:
		return nil, codec.NewPyError("TypeError", "'NoneType' object is not callable")
	}
	if codec.Encodable(fn) {
		return nil, codec.Errorf("TypeError", "'%s' object is not callable", pyTypeName(fn))
	}
	return netref.Wrap(fn).Call(ctx, codec.Tuple(args), kwargs)
}

// Call calls the caller's func(*args, **kwargs) over the same connection
// while this request is open, and returns its result; what func raises is
// raised to the caller as the same class.
func (s *ConformanceService) Call(ctx context.Context, fn any, kwargs netref.Kwargs, args ...any) (any, error) {
	return callAny(ctx, fn, args, kwargs)
}

// Map returns tuple(func(x) for x in items).
func (s *ConformanceService) Map(ctx context.Context, fn any, items codec.Tuple) (codec.Tuple, error) {
	out := make(codec.Tuple, len(items))
	for i, x := range items {
		v, err := callAny(ctx, fn, []any{x}, nil)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// items iterates x: a tuple or frozenset by value, a proxy of the caller's
// (iterated over the connection), or a local iterable.
func items(ctx context.Context, x any) (iter.Seq2[any, error], error) {
	switch v := x.(type) {
	case codec.Tuple:
		return sliceSeq(v), nil
	case codec.FrozenSet:
		return sliceSeq(v), nil
	case *netref.Proxy:
		return v.Iter(ctx), nil
	}
	var local any = x
	if o, ok := x.(netref.Object); ok {
		local = netref.Unwrap(o)
	}
	if it, ok := local.(netref.Iterable); ok {
		return func(yield func(any, error) bool) {
			for v := range it.Iter() {
				if !yield(v, nil) {
					return
				}
			}
		}, nil
	}
	return nil, codec.Errorf("TypeError", "'%s' object is not iterable", pyTypeName(x))
}

func sliceSeq(s []any) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		for _, v := range s {
			if !yield(v, nil) {
				return
			}
		}
	}
}

// Sum returns the sum of the items of iterable (ints of any size and
// floats), starting from 0 as Python's sum does.
func (s *ConformanceService) Sum(ctx context.Context, iterable any) (any, error) {
	seq, err := items(ctx, iterable)
	if err != nil {
		return nil, err
	}
	var total any = int64(0)
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		if b, ok := v.(bool); ok { // sum() counts bools as ints
			v = int64(0)
			if b {
				v = int64(1)
			}
		}
		if numKind(v) == 0 {
			return nil, unsupported("+", total, v)
		}
		if total, err = pyAdd(total, v); err != nil {
			return nil, err
		}
	}
	return total, nil
}

// Length returns len(x): code points of a str, bytes, tuple and frozenset
// items, or the caller's object's __len__.
func (s *ConformanceService) Length(ctx context.Context, x any) (int64, error) {
	switch v := x.(type) {
	case string:
		return int64(utf8.RuneCountInString(v)), nil
	case []byte:
		return int64(len(v)), nil
	case codec.Tuple:
		return int64(len(v)), nil
	case codec.FrozenSet:
		return int64(len(v)), nil
	case *netref.Proxy:
		n, err := v.Len(ctx)
		return int64(n), err
	}
	local := x
	if o, ok := x.(netref.Object); ok {
		local = netref.Unwrap(o)
	}
	if l, ok := local.(netref.Lener); ok {
		return int64(l.Len()), nil
	}
	return 0, codec.Errorf("TypeError", "object of type '%s' has no len()", pyTypeName(x))
}

// Kwargs returns the keyword arguments as (key, value) pairs sorted by key
// in code-point order.
func (s *ConformanceService) Kwargs(kwargs netref.Kwargs) codec.Tuple {
	kw := slices.Clone(kwargs)
	// Go compares strings bytewise, and UTF-8 byte order is code-point order.
	slices.SortStableFunc(kw, func(a, b netref.Kwarg) int { return strings.Compare(a.Name, b.Name) })
	out := make(codec.Tuple, len(kw))
	for i, p := range kw {
		out[i] = codec.Tuple{p.Name, p.Value}
	}
	return out
}

// Sleep sleeps for seconds (an int or a float) and returns it unchanged.
// Other requests are served meanwhile; the sleep ends early, with an error,
// when the connection closes.
func (s *ConformanceService) Sleep(ctx context.Context, seconds any) (any, error) {
	if numKind(seconds) == 0 {
		return nil, codec.Errorf("TypeError", "'%s' object cannot be interpreted as an integer", pyTypeName(seconds))
	}
	f, err := toFloat(seconds)
	if err != nil {
		return nil, err
	}
	switch {
	case math.IsNaN(f):
		return nil, codec.NewPyError("ValueError", "Invalid value NaN (not a number)")
	case f < 0:
		return nil, codec.NewPyError("ValueError", "sleep length must be non-negative")
	case f*1e9 >= math.MaxInt64:
		return nil, codec.NewPyError("OverflowError", "sleep length is too large")
	}
	t := time.NewTimer(time.Duration(f * 1e9))
	defer t.Stop()
	select {
	case <-t.C:
		return seconds, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Blob returns bytes(i % 256 for i in range(n)); a negative n raises
// ValueError, one above MaxBlob MemoryError.
func (s *ConformanceService) Blob(n int64) ([]byte, error) {
	if n < 0 {
		return nil, codec.NewPyError("ValueError", "negative count")
	}
	if n > MaxBlob {
		return nil, codec.Errorf("MemoryError", "blob of %d bytes exceeds the limit of %d", n, MaxBlob)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b, nil
}

// Mapping returns a new read-only dict-like object {"a": 1, "b": 2, "c": 3}.
func (s *ConformanceService) Mapping() *Mapping {
	return NewMapping([]string{"a", "b", "c"}, []any{int64(1), int64(2), int64(3)})
}

// LiveObjects returns how many objects of this side the peer holds on this
// connection, the root included.
func (s *ConformanceService) LiveObjects() int { return s.conn.HeldObjects() }

// Subscribe sets the connection's callback (a callable of the caller's;
// None unsubscribes), replacing any earlier one.
func (s *ConformanceService) Subscribe(callback any) error {
	var p *netref.Proxy
	switch cb := callback.(type) {
	case nil:
	case *netref.Proxy:
		p = cb
	default:
		return codec.Errorf("TypeError", "callback must be a callable of the caller, not '%s'", pyTypeName(callback))
	}
	s.mu.Lock()
	s.callback = p
	s.mu.Unlock()
	return nil
}

// Fire sends callback(i, payload) for i in 0..n-1, in order, as requests
// whose replies are not awaited, and returns n at once. Without a callback
// it sends nothing.
func (s *ConformanceService) Fire(n int64, payload any) (int64, error) {
	s.mu.Lock()
	cb := s.callback
	s.mu.Unlock()
	if cb == nil {
		return n, nil
	}
	for i := int64(0); i < n; i++ {
		if err := s.conn.Notify(netref.HandleCall, cb, codec.Tuple{i, payload}, codec.Tuple{}); err != nil {
			return i, err
		}
	}
	return n, nil
}

// PeerCall calls name(*args) on the root of the service the caller exposes
// on this connection.
func (s *ConformanceService) PeerCall(ctx context.Context, name string, args ...any) (any, error) {
	root, err := s.conn.Root(ctx)
	if err != nil {
		return nil, err
	}
	return root.CallMethod(ctx, name, args...)
}

// ConnectionID returns the connection's number, unique in this process.
func (s *ConformanceService) ConnectionID() uint64 { return s.conn.ID() }

// Pid returns the id of the serving process.
func (s *ConformanceService) Pid() int { return os.Getpid() }

// secret is not exposed: any access from the peer raises AttributeError.
func (s *ConformanceService) secret() string { return "unreachable" }

var _ = (*ConformanceService).secret

// CounterClass is the CONFORMANCE service's exposed class Counter: calling
// it (Counter(start=0)) makes a new Counter, passed by reference.
type CounterClass struct{}

var counterClass = &CounterClass{}

// Call is CounterClass's constructor: Counter(start=0).
func (*CounterClass) Call(_ context.Context, args codec.Tuple, kwargs []netref.Kwarg) (any, error) {
	if len(args) > 1 {
		return nil, codec.Errorf("TypeError", "Counter() takes from 1 to 2 positional arguments but %d were given", len(args)+1)
	}
	var start any = int64(0)
	if len(args) == 1 {
		start = args[0]
	}
	for _, kw := range kwargs {
		if kw.Name != "start" {
			return nil, codec.Errorf("TypeError", "Counter() got an unexpected keyword argument '%s'", kw.Name)
		}
		if len(args) == 1 {
			return nil, codec.NewPyError("TypeError", "Counter() got multiple values for argument 'start'")
		}
		start = kw.Value
	}
	if numKind(start) != 'i' {
		return nil, codec.Errorf("TypeError", "Counter() argument 'start' must be int, not %s", pyTypeName(start))
	}
	return NewCounter(start), nil
}

// String describes the class.
func (*CounterClass) String() string { return "<class 'Counter'>" }

// Counter is the CONFORMANCE counter: incr(by=1), reset(), the value
// attribute and str "Counter(<value>)". Values are Python ints of any size.
// Safe for concurrent use.
type Counter struct {
	mu    sync.Mutex
	value any // int64 or *big.Int
}

// NewCounter returns a counter starting at start (a Python int: int64 or
// *big.Int).
func NewCounter(start any) *Counter { return &Counter{value: start} }

// RPyCParams names incr's parameter.
func (*Counter) RPyCParams() map[string][]string { return map[string][]string{"Incr": {"by"}} }

// RPyCProperties makes Value the value attribute.
func (*Counter) RPyCProperties() []string { return []string{"Value"} }

// RPyCInline serves incr and reset on the connection's reading goroutine
// (netref.InlineNamer): they hold the counter's lock for an addition.
func (*Counter) RPyCInline() []string { return []string{"Incr", "Reset"} }

// Incr adds by (1 when omitted) and returns the new value.
func (c *Counter) Incr(by ...any) (any, error) {
	if len(by) > 1 {
		return nil, codec.Errorf("TypeError", "incr() takes from 1 to 2 positional arguments but %d were given", len(by)+1)
	}
	var d any = int64(1)
	if len(by) == 1 {
		d = by[0]
	}
	if numKind(d) != 'i' {
		return nil, codec.Errorf("TypeError", "incr() argument 'by' must be int, not %s", pyTypeName(d))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.value = addInts(c.value, d)
	return c.value, nil
}

// Reset sets the value to 0.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.value = int64(0)
	c.mu.Unlock()
}

// Value returns the current value.
func (c *Counter) Value() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// String is "Counter(<value>)".
func (c *Counter) String() string { return fmt.Sprintf("Counter(%v)", c.Value()) }

// Mapping is a read-only dict-like object passed by reference: m[k], len,
// in, iteration over the keys in order, keys(), items(), get(k[, d]). A
// missing key raises KeyError, assignment TypeError. Safe for concurrent
// use (it never changes).
type Mapping struct {
	keys   []string
	values []any
}

// NewMapping returns a mapping of keys[i] to values[i], in that order.
func NewMapping(keys []string, values []any) *Mapping {
	if len(keys) != len(values) {
		panic("services.NewMapping: keys and values differ in length")
	}
	return &Mapping{keys: slices.Clone(keys), values: slices.Clone(values)}
}

// RPyCParams names get's parameters.
func (*Mapping) RPyCParams() map[string][]string {
	return map[string][]string{"Get": {"key", "default"}}
}

func (m *Mapping) index(key any) int {
	k, ok := key.(string)
	if !ok {
		return -1
	}
	return slices.Index(m.keys, k)
}

// Len is len(m).
func (m *Mapping) Len() int { return len(m.keys) }

// GetItem is m[key]; KeyError when missing.
func (m *Mapping) GetItem(_ context.Context, key any) (any, error) {
	if i := m.index(key); i >= 0 {
		return m.values[i], nil
	}
	return nil, codec.NewPyError("KeyError", key)
}

// SetItem refuses assignment with TypeError.
func (m *Mapping) SetItem(context.Context, any, any) error {
	return codec.NewPyError("TypeError", "'Mapping' object does not support item assignment")
}

// DelItem refuses deletion with TypeError.
func (m *Mapping) DelItem(context.Context, any) error {
	return codec.NewPyError("TypeError", "'Mapping' object does not support item deletion")
}

// Contains is key in m.
func (m *Mapping) Contains(_ context.Context, key any) (bool, error) { return m.index(key) >= 0, nil }

// Iter iterates the keys in order.
func (m *Mapping) Iter() iter.Seq[any] {
	return func(yield func(any) bool) {
		for _, k := range m.keys {
			if !yield(k) {
				return
			}
		}
	}
}

// Keys returns the keys in order.
func (m *Mapping) Keys() codec.Tuple {
	out := make(codec.Tuple, len(m.keys))
	for i, k := range m.keys {
		out[i] = k
	}
	return out
}

// Values returns the values in key order.
func (m *Mapping) Values() codec.Tuple { return codec.Tuple(slices.Clone(m.values)) }

// Items returns the (key, value) pairs in order.
func (m *Mapping) Items() codec.Tuple {
	out := make(codec.Tuple, len(m.keys))
	for i, k := range m.keys {
		out[i] = codec.Tuple{k, m.values[i]}
	}
	return out
}

// Get returns m[key], or default (None when omitted) when key is missing.
func (m *Mapping) Get(key any, def ...any) (any, error) {
	if len(def) > 1 {
		return nil, codec.Errorf("TypeError", "get expected at most 2 arguments, got %d", len(def)+1)
	}
	if i := m.index(key); i >= 0 {
		return m.values[i], nil
	}
	if len(def) == 1 {
		return def[0], nil
	}
	return nil, nil
}

// String is the dict's repr.
func (m *Mapping) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(codec.PyRepr(k))
		b.WriteString(": ")
		b.WriteString(codec.PyRepr(m.values[i]))
	}
	b.WriteByte('}')
	return b.String()
}
