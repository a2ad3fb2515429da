package netref

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/rpycgo/rpycgo/codec"
)

// Interfaces through which a Go type wrapped by Wrap answers Python's
// implicit operations. Each one adds its dunder to the object's INSPECT
// reply, so the Python proxy supports the operation; the Go method itself
// is not exposed under its own name. A method that does not have exactly
// the signature below is an ordinary exposed method instead.
type (
	// Lener gives __len__: len(p), and bool(p) when there is no Booler.
	Lener interface{ Len() int }

	// Booler gives __bool__: bool(p), if p:.
	Booler interface{ Bool() bool }

	// PyReprer gives repr(p) (HANDLE_REPR). fmt.Stringer gives str(p)
	// (HANDLE_STR); without a Stringer, str(p) is repr(p) as in Python.
	PyReprer interface{ PyRepr() string }

	// ItemGetter gives __getitem__: p[key]. key is the decoded argument
	// (int64, string, codec.Tuple, codec.Slice, a *Proxy...). Return a
	// KeyError or IndexError *codec.PyError for a missing key.
	ItemGetter interface {
		GetItem(ctx context.Context, key any) (any, error)
	}

	// ItemSetter gives __setitem__: p[key] = value.
	ItemSetter interface {
		SetItem(ctx context.Context, key, value any) error
	}

	// ItemDeleter gives __delitem__: del p[key].
	ItemDeleter interface {
		DelItem(ctx context.Context, key any) error
	}

	// Container gives __contains__: x in p.
	Container interface {
		Contains(ctx context.Context, x any) (bool, error)
	}

	// Iterable gives __iter__: iter(p), for x in p, list(p). Each call
	// starts a new iteration, handed to the peer as a builtins.generator.
	Iterable interface{ Iter() iter.Seq[any] }

	// Hasher gives hash(p) (HANDLE_HASH). Without it the hash is derived
	// from the object's identity.
	Hasher interface{ Hash() int64 }

	// Equaler gives p == x and p != x (HANDLE_CMP "__eq__"/"__ne__"). other
	// is the decoded operand: a plain value, a *Proxy, or the Go value of
	// one of this side's objects. Without it equality is identity.
	Equaler interface{ Equal(other any) bool }

	// ContextManager gives __enter__ and __exit__: with p as x:. Exit gets
	// None for a clean exit, or what the peer sent for the exception (a
	// Python client sends a reference to the exception class); returning
	// true asks the peer to suppress the exception.
	ContextManager interface {
		Enter(ctx context.Context) (any, error)
		Exit(ctx context.Context, exc any) (bool, error)
	}

	// Caller gives __call__: p(*args, **kwargs).
	Caller interface {
		Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error)
	}

	// Iterator is a Go iterator the peer can drive: Wrap hands it out as a
	// builtins.generator whose __next__ calls Next. Next returns ok=false
	// at the end (the peer then gets StopIteration). If the iterator also
	// implements io.Closer, Close is called once at the end or when the
	// adapter is collected.
	Iterator interface {
		Next(ctx context.Context) (value any, ok bool, err error)
	}

	// ParamNamer names the parameters of a type's methods so that keyword
	// arguments can fill them: Go method name → Python names of its
	// parameters in order, not counting a leading context.Context or a
	// Kwargs parameter; a name for the variadic parameter comes last.
	// RPyCParams is called once per type, on the zero value, so it must
	// not depend on the receiver's state.
	ParamNamer interface{ RPyCParams() map[string][]string }

	// PropertyNamer lists Go methods that the peer reads as attributes
	// (Python properties): GETATTR of the method's snake_case name calls
	// it and returns the result, so c.value reads Value(). Such a method
	// takes no arguments besides an optional leading context.Context;
	// methods that take more stay ordinary methods. Like RPyCParams,
	// RPyCProperties is called once per type, on the zero value.
	PropertyNamer interface{ RPyCProperties() []string }

	// InlineNamer lists Go methods that never block: they neither wait
	// (for a lock held long, I/O, a timer, the peer) nor compute for long.
	// A connection may then serve a call of one on the goroutine that
	// reads the connection, an engine's event loop, instead of handing it
	// to the server's workers: the hand-over, a thread wake-up, costs more
	// than such a method. Such a method must not make a synchronous
	// request to the peer (it would wait for a reply that the loop it
	// holds has to read: the request fails at once when it is made with
	// the context the method received). Calls that run longer than
	// InlineBudget anyway (InlineStrikes of them: one may be a pause of
	// the machine rather than of the method) end the method's inline
	// service for good (Inliner.NotInline), with a warning in the log.
	// Its arguments may view the frame they came in and the decoder's
	// memory (no copy, no allocation): str and bytes values, tuples and
	// the other containers are valid until it returns, and it copies what
	// it keeps longer. Like RPyCParams, RPyCInline is called once per
	// type, on the zero value.
	InlineNamer interface{ RPyCInline() []string }
)

// Inliner is implemented by Objects some of whose methods may be served on
// the goroutine that reads the connection (see InlineNamer).
type Inliner interface {
	// InlineMethod reports whether a CALLATTR of name may run inline.
	InlineMethod(name string) bool
	// NotInline stops serving name inline, for every object of the type.
	NotInline(name string)
}

// InlineBudget is the longest an inline method may run: one that runs
// longer InlineStrikes times is served by the workers from then on.
const InlineBudget = 10 * time.Millisecond

// InlineStrikes is how many calls of an inline method must overrun
// InlineBudget within InlineStrikeWindow for it to be demoted. A single
// overrun is more often the machine's than the method's (the thread was
// descheduled, the collector stopped the world); a method that blocks
// overruns on every call.
const (
	InlineStrikes      = 3
	InlineStrikeWindow = time.Second
)

// OverrunCounter is an Inliner that counts overruns: the connection calls
// Overran instead of NotInline when it has one.
type OverrunCounter interface {
	// Overran records a call of name that overran InlineBudget, and
	// reports whether it was the one that ended the method's inline
	// service (the InlineStrikes-th).
	Overran(name string) bool
}

// dunderIfaces are the Go methods consumed by the interfaces above when
// their signatures match; they are not exposed under their own names.
var dunderIfaces = []struct {
	goNames []string
	iface   any // a nil pointer to the interface
}{
	{[]string{"Len"}, (*Lener)(nil)},
	{[]string{"Bool"}, (*Booler)(nil)},
	{[]string{"String"}, (*fmt.Stringer)(nil)},
	{[]string{"PyRepr"}, (*PyReprer)(nil)},
	{[]string{"GetItem"}, (*ItemGetter)(nil)},
	{[]string{"SetItem"}, (*ItemSetter)(nil)},
	{[]string{"DelItem"}, (*ItemDeleter)(nil)},
	{[]string{"Contains"}, (*Container)(nil)},
	{[]string{"Iter"}, (*Iterable)(nil)},
	{[]string{"Hash"}, (*Hasher)(nil)},
	{[]string{"Equal"}, (*Equaler)(nil)},
	{[]string{"Enter", "Exit"}, (*ContextManager)(nil)},
	{[]string{"Call"}, (*Caller)(nil)},
	{[]string{"RPyCParams"}, (*ParamNamer)(nil)},
	{[]string{"RPyCProperties"}, (*PropertyNamer)(nil)},
	{[]string{"RPyCInline"}, (*InlineNamer)(nil)},
}
