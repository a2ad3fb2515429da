package services

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Connector is implemented by a service value that wants to know when a
// connection starts. OnConnect runs in Service.Attach, before the
// connection reads its first frame; an error refuses the connection. It
// must not wait for the peer (the connection is not reading yet): start a
// goroutine for requests such as c.Root.
type Connector interface {
	OnConnect(c *conn.Conn) error
}

// Disconnector is implemented by a service value that wants to know when a
// connection has ended. OnDisconnect runs once, after the connection has
// closed (no I/O is possible any more).
type Disconnector interface {
	OnDisconnect(c *conn.Conn)
}

// Service is a Go value (or a factory of values) served as an RPyC service.
// It implements conn.Service: each connection's root object is the value
// adapted by netref.Wrap, plus get_service_name() and
// get_service_aliases() (also reachable as exposed_get_service_name and
// exposed_get_service_aliases), and an "exposed_" prefix on a name is
// ignored as RPyC ignores it. The peer can never set or delete attributes
// of the root: SETATTR and DELATTR raise AttributeError("access denied"),
// as rpyc.Service does.
//
// A Service is safe for concurrent use by many connections.
type Service struct {
	name    string
	aliases []string
	goType  reflect.Type // the served Go type, for the default name

	shared  any                             // New: one value for every connection
	factory func(c *conn.Conn) (any, error) // PerConn: a value per connection

	nameMu   sync.Mutex
	resolved bool
	nameFn   func() string
	aliasFn  func() codec.Tuple
	opts     options
}

var _ conn.LazyService = (*Service)(nil)

// AttachLazily implements conn.LazyService: WithLazyAttach was given and
// the served value has no OnConnect hook.
func (s *Service) AttachLazily() bool {
	if !s.opts.lazy || s.goType == nil {
		return false
	}
	return !s.goType.Implements(reflect.TypeFor[Connector]())
}

// Option configures a Service.
type Option func(*options)

type options struct {
	name    string
	aliases []string
	lazy    bool
}

// WithLazyAttach lets servers attach the service to a connection only when
// the peer first sends something (conn.LazyService), so that silent
// connections cost them almost nothing. It is for services whose values do
// nothing on connect that the peer could notice: it has no effect when the
// value has an OnConnect hook (Connector), and a PerConn factory must not
// register the connection for pushing events to it.
func WithLazyAttach() Option {
	return func(o *options) { o.lazy = true }
}

// WithName sets the service name (upper-cased), replacing the name derived
// from the Go type; with WithAliases it is put first among the aliases.
func WithName(name string) Option {
	return func(o *options) { o.name = strings.ToUpper(name) }
}

// WithAliases sets the service's aliases (upper-cased, in order), as RPyC's
// ALIASES class attribute does; the first one is the name unless WithName
// is given.
func WithAliases(aliases ...string) Option {
	return func(o *options) {
		o.aliases = o.aliases[:0]
		for _, a := range aliases {
			o.aliases = append(o.aliases, strings.ToUpper(a))
		}
	}
}

// New returns a service that exposes impl, one value shared by every
// connection: methods of impl run concurrently for all of them, so impl
// must be safe for concurrent use. Its default name is the Go type name of
// impl upper-cased, without a trailing "SERVICE" (DemoService → "DEMO"),
// as RPyC derives it from the class name.
func New(impl any, opts ...Option) *Service {
	s := &Service{shared: impl, goType: reflect.TypeOf(impl)}
	s.init(opts)
	return s
}

// PerConn returns a service that builds a fresh value for every connection
// with factory, RPyC's classpartial: the factory is a closure binding
// whatever the constructor needs, and receives the connection (its ID,
// RemoteAddr, Context...). A factory error refuses the connection. The
// default name comes from T (the factory's result type); when T is an
// interface type it comes from the dynamic type of the first value built,
// unless WithName or WithAliases is given.
func PerConn[T any](factory func(c *conn.Conn) (T, error), opts ...Option) *Service {
	s := &Service{
		factory: func(c *conn.Conn) (any, error) { return factory(c) },
		goType:  reflect.TypeFor[T](),
	}
	if s.goType.Kind() == reflect.Interface {
		s.goType = nil
	}
	s.init(opts)
	return s
}

func (s *Service) init(opts []Option) {
	for _, o := range opts {
		o(&s.opts)
	}
	s.nameFn = s.Name
	s.aliasFn = func() codec.Tuple {
		as := s.Aliases()
		t := make(codec.Tuple, len(as))
		for i, a := range as {
			t[i] = a
		}
		return t
	}
	if s.goType != nil {
		s.resolveNames(s.goType)
	}
}

// resolveNames fixes the name and aliases, once they can be known: from
// the options, else from the Go type t (nil while unknown: a PerConn
// service whose factory returns an interface type, before its first
// connection).
func (s *Service) resolveNames(t reflect.Type) {
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	if s.resolved {
		return
	}
	aliases := slices.Clone(s.opts.aliases)
	switch {
	case len(aliases) == 0 && s.opts.name != "":
		aliases = []string{s.opts.name}
	case len(aliases) == 0 && t == nil:
		return // not known yet
	case len(aliases) == 0:
		aliases = []string{DefaultName(t)}
	case s.opts.name != "":
		aliases = slices.DeleteFunc(aliases, func(a string) bool { return a == s.opts.name })
		aliases = append([]string{s.opts.name}, aliases...)
	}
	s.aliases = aliases
	s.name = aliases[0]
	s.resolved = true
}

// DefaultName is the service name RPyC would give a class named like the Go
// type t (pointers dereferenced): the name upper-cased, without a trailing
// "SERVICE". A nil or unnamed type gives "".
func DefaultName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 { // generic instantiation
		n = n[:i]
	}
	n = strings.ToUpper(n)
	return strings.TrimSuffix(n, "SERVICE")
}

// Name returns the service name: the first alias. It is "" for a PerConn
// service named after an interface type until its first connection.
func (s *Service) Name() string {
	s.resolveNames(nil)
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	return s.name
}

// Aliases returns the service's aliases, the name first (a copy).
func (s *Service) Aliases() []string {
	s.resolveNames(nil)
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	return slices.Clone(s.aliases)
}

// Attach builds the connection's root object: the shared value, or a new
// one from the factory; then runs OnConnect if the value has it.
func (s *Service) Attach(c *conn.Conn) (netref.Object, error) {
	impl := s.shared
	if s.factory != nil {
		v, err := s.factory(c)
		if err != nil {
			return nil, fmt.Errorf("services: %s: %w", s.Name(), err)
		}
		impl = v
	}
	if impl == nil {
		return nil, fmt.Errorf("services: %s: nil service value", s.Name())
	}
	s.resolveNames(reflect.TypeOf(impl))
	if h, ok := impl.(Connector); ok {
		if err := h.OnConnect(c); err != nil {
			return nil, fmt.Errorf("services: %s: on connect: %w", s.Name(), err)
		}
	}
	return &Root{svc: s, impl: impl, obj: netref.Wrap(impl)}, nil
}

// Detach runs OnDisconnect of the connection's value, if it has one.
func (s *Service) Detach(c *conn.Conn) {
	r, ok := c.LocalRoot().(*Root)
	if !ok || r.svc != s {
		return
	}
	if h, ok := r.impl.(Disconnector); ok {
		h.OnDisconnect(c)
	}
}

// Root is the root object of one connection of a Service: the service value
// as netref.Wrap adapts it, with the service-level members and policy added.
type Root struct {
	svc  *Service
	impl any
	obj  netref.Object
}

var (
	_ netref.Object  = (*Root)(nil)
	_ netref.Inliner = (*Root)(nil)
)

// Value returns the service value behind the root (the shared value, or
// the connection's own).
func (r *Root) Value() any { return r.impl }

// Service returns the Service the root belongs to.
func (r *Root) Service() *Service { return r.svc }

// exposedPrefix is RPyC's exposed_prefix: "exposed_x" names "x".
const exposedPrefix = "exposed_"

// hook reports whether name is a connection hook of the service value
// (Connector.OnConnect, Disconnector.OnDisconnect): Go plumbing that the
// peer must not reach, as RPyC never exposes on_connect/on_disconnect.
func (r *Root) hook(name string) bool {
	switch name {
	case "on_connect":
		_, ok := r.impl.(Connector)
		return ok
	case "on_disconnect":
		_, ok := r.impl.(Disconnector)
		return ok
	}
	return false
}

// hookError is the AttributeError for a hook, worded as for any missing
// attribute.
func (r *Root) hookError(name string) error {
	cls := r.obj.TypeName()
	cls = cls[strings.LastIndexByte(cls, '.')+1:]
	e := codec.Errorf("AttributeError", "'%s' object has no attribute '%s'", cls, name)
	e.Attrs = []codec.Attr{{Name: "name", Value: name}}
	return e
}

func (r *Root) member(name string) (any, bool) {
	switch name {
	case "get_service_name":
		return r.svc.nameFn, true
	case "get_service_aliases":
		return r.svc.aliasFn, true
	}
	return nil, false
}

// TypeName is the name_pack of the wrapped value.
func (r *Root) TypeName() string { return r.obj.TypeName() }

// Inspect lists what the wrapped value lists.
func (r *Root) Inspect() []string { return r.obj.Inspect() }

// GetAttr serves get_service_name and get_service_aliases, and everything
// else from the wrapped value.
func (r *Root) GetAttr(ctx context.Context, name string) (any, error) {
	name = strings.TrimPrefix(name, exposedPrefix)
	if v, ok := r.member(name); ok {
		return v, nil
	}
	if r.hook(name) {
		return nil, r.hookError(name)
	}
	return r.obj.GetAttr(ctx, name)
}

// SetAttr always raises AttributeError("access denied").
func (r *Root) SetAttr(context.Context, string, any) error { return accessDenied() }

// DelAttr always raises AttributeError("access denied").
func (r *Root) DelAttr(context.Context, string) error { return accessDenied() }

func accessDenied() error { return codec.NewPyError("AttributeError", "access denied") }

// Call calls the wrapped value (a TypeError unless it is callable).
func (r *Root) Call(ctx context.Context, args codec.Tuple, kwargs []netref.Kwarg) (any, error) {
	return r.obj.Call(ctx, args, kwargs)
}

// CallAttr calls a member in one round trip.
func (r *Root) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []netref.Kwarg) (any, error) {
	name = strings.TrimPrefix(name, exposedPrefix)
	if v, ok := r.member(name); ok {
		if len(args) != 0 || len(kwargs) != 0 {
			return nil, codec.Errorf("TypeError", "%s() takes 0 positional arguments but %d were given", name, len(args))
		}
		switch f := v.(type) {
		case func() string:
			return f(), nil
		case func() codec.Tuple:
			return f(), nil
		}
	}
	if r.hook(name) {
		return nil, r.hookError(name)
	}
	return r.obj.CallAttr(ctx, name, args, kwargs)
}

// InlineMethod implements netref.Inliner: the wrapped value's methods
// listed by its RPyCInline (netref.InlineNamer) may run on the goroutine
// that reads the connection.
func (r *Root) InlineMethod(name string) bool {
	in, ok := r.obj.(netref.Inliner)
	if !ok {
		return false
	}
	name = strings.TrimPrefix(name, exposedPrefix)
	if _, member := r.member(name); member || r.hook(name) {
		return false
	}
	return in.InlineMethod(name)
}

// NotInline implements netref.Inliner.
func (r *Root) NotInline(name string) {
	if in, ok := r.obj.(netref.Inliner); ok {
		in.NotInline(strings.TrimPrefix(name, exposedPrefix))
	}
}

// Overran implements netref.OverrunCounter.
func (r *Root) Overran(name string) bool {
	name = strings.TrimPrefix(name, exposedPrefix)
	switch in := r.obj.(type) {
	case netref.OverrunCounter:
		return in.Overran(name)
	case netref.Inliner:
		in.NotInline(name)
		return true
	}
	return false
}

// Str is str() of the wrapped value.
func (r *Root) Str(ctx context.Context) (string, error) { return r.obj.Str(ctx) }

// Repr is repr() of the wrapped value.
func (r *Root) Repr(ctx context.Context) (string, error) { return r.obj.Repr(ctx) }

// Hash is hash() of the wrapped value.
func (r *Root) Hash(ctx context.Context) (int64, error) { return r.obj.Hash(ctx) }

// Dir lists the wrapped value's names and the service-level members.
func (r *Root) Dir(ctx context.Context) ([]string, error) {
	names, err := r.obj.Dir(ctx)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(slices.Clone(names), r.hook)
	names = append(names, "get_service_aliases", "get_service_name")
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Cmp compares the wrapped value.
func (r *Root) Cmp(ctx context.Context, other any, op string) (any, error) {
	if o, ok := other.(*Root); ok {
		other = o.impl
	}
	return r.obj.Cmp(ctx, other, op)
}

// VoidService is RPyC's VoidService: a root with nothing but
// get_service_name and get_service_aliases.
type VoidService struct{}

// Void is the void service (name "VOID"), what a client exposes when it has
// nothing to offer.
var Void = New(VoidService{})
