package netref

import (
	"fmt"
	"runtime/debug"

	"github.com/rpycgo/rpycgo/codec"
)

// CallbackError is the panic value of a Go func made by Convert from a
// Python callable when the call fails and the func type has no trailing
// error result to return the failure in. The adapters of this package
// recover it and return Err unchanged, so a callback's exception propagates
// back to the peer as the same Python class.
type CallbackError struct {
	Err error
}

// Error returns the text of the wrapped error.
func (e *CallbackError) Error() string { return "netref: callback failed: " + e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *CallbackError) Unwrap() error { return e.Err }

// attributeError is Python's AttributeError for a missing attribute, worded
// as Python words it, with the name attribute set.
func attributeError(typeName, name string) *codec.PyError {
	e := codec.NewPyError("AttributeError", fmt.Sprintf("'%s' object has no attribute '%s'", typeName, name))
	e.Attrs = []codec.Attr{{Name: "name", Value: name}}
	return e
}

// attributeErrorf is an AttributeError with a custom message and the name
// attribute set.
func attributeErrorf(name, format string, a ...any) *codec.PyError {
	e := codec.Errorf("AttributeError", format, a...)
	e.Attrs = []codec.Attr{{Name: "name", Value: name}}
	return e
}

func typeErrorf(format string, a ...any) *codec.PyError {
	return codec.Errorf("TypeError", format, a...)
}

// recoverError turns a recovered panic value into the error an adapter
// returns: the failure of a callback (*CallbackError) as is, anything else
// as RuntimeError("panic: ...") carrying the Go stack as traceback text.
func recoverError(r any) error {
	switch x := r.(type) {
	case *CallbackError:
		return x.Err
	case CallbackError:
		return x.Err
	}
	e := codec.Errorf("RuntimeError", "panic: %v", r)
	e.Traceback = "Go panic: " + fmt.Sprint(r) + "\n\n" + string(debug.Stack())
	e.Panic = r
	return e
}
