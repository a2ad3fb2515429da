package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Vinegar is RPyC's exception format (PROTOCOL.md §11): the args of a
// MSG_EXCEPTION are the int 1 for StopIteration, or the 4-tuple
//
//	((module, class), args, ((name, value), ...), traceback_text)
//
// This file holds the error type both directions use (PyError), the dumper
// (DumpError, AppendError) and the loader (LoadError). How plain Go errors
// map onto Python classes is in vinegar_errors.go.

// Version strings a peer sends as the "_remote_version" attribute (§11.2,
// V6.6). A Python loader appends a warning to the traceback text when the
// major number differs from its own, so send the one matching the peer's
// message layout, VinegarVersionDenied, or nothing.
const (
	VinegarVersion5      = "5.3.0"
	VinegarVersion6      = "6.0.2"
	VinegarVersionDenied = "<version denied>"
)

// VinegarTracebackDenied is the traceback text Python sends when
// include_local_traceback is off; DumpError sends it when
// VinegarOptions.IncludeTraceback is false.
const VinegarTracebackDenied = "<traceback denied>"

const (
	vinegarStopIteration = 1 // EXC_STOP_ITERATION
	attrRemoteVersion    = "_remote_version"
	builtinsModule       = "builtins"
)

// Attr is one extra attribute of an exception: a (name, value) pair of the
// vinegar attrs tuple. Value is a value of the package's value model.
type Attr struct {
	Name  string
	Value any
}

// PyError is a Python exception, in both directions.
//
// Go code returns a *PyError (usually made with NewPyError, Errorf or
// OSError) to make the Python peer raise that exact class. Exceptions
// received from a peer arrive as *PyError too, so callers find them with
// errors.As and test well-known classes with errors.Is (see Is).
//
// Module and Class name the class as Python does ("builtins", "ValueError").
// Args are the exception's .args; Attrs its extra attributes in wire order
// (for a received exception every attribute except a str "_remote_version",
// which goes to RemoteVersion). Traceback is the free text shown under
// Python's "Remote Traceback" banner; received exceptions carry the peer's
// formatted traceback, and a *PyError made in Go is sent with its Traceback
// as is (empty unless set).
type PyError struct {
	Module    string
	Class     string
	Args      Tuple
	Attrs     []Attr
	Traceback string
	// RemoteVersion is the "_remote_version" the peer sent ("5.3.0",
	// "6.0.2", "<version denied>"), or "" when it sent none. It is not sent
	// back: DumpError sends VinegarOptions.Version instead, as Python sends
	// its own version when it relays an exception.
	RemoteVersion string
	// Panic is the recovered value when this exception stands for a panic
	// of Go code on this side (set by the adapters of package netref, so
	// that the connection logs it); it is never sent.
	Panic any
}

// ErrStopIteration is Python's StopIteration. errors.Is(err,
// ErrStopIteration) reports whether err is (or wraps) a StopIteration
// *PyError, received or made with StopIteration(). Do not modify it.
var ErrStopIteration error = &PyError{Module: builtinsModule, Class: "StopIteration"}

// NewPyError returns a Python exception of the built-in class class (module
// "builtins") with the given args, e.g. NewPyError("KeyError", "k").
// The args must be values of the package's value model to arrive intact; any
// other value is sent as its repr-like text.
func NewPyError(class string, args ...any) *PyError {
	return &PyError{Module: builtinsModule, Class: class, Args: Tuple(args)}
}

// Errorf returns a built-in Python exception of class class whose only arg
// is the formatted message, e.g. Errorf("ValueError", "bad size %d", n).
func Errorf(class, format string, a ...any) *PyError {
	return NewPyError(class, fmt.Sprintf(format, a...))
}

// StopIteration returns a new StopIteration with no args; DumpError sends it
// as the int 1.
func StopIteration() *PyError {
	return &PyError{Module: builtinsModule, Class: "StopIteration"}
}

// OSError returns a Python OSError for errno, of the subclass Python itself
// picks for that errno (ENOENT → FileNotFoundError, EACCES and EPERM →
// PermissionError, EEXIST → FileExistsError, ETIMEDOUT → TimeoutError,
// ECONNREFUSED → ConnectionRefusedError, ...; see OSErrorClass). Its args
// are (errno, strerror) and its attrs errno, strerror, and filename and
// filename2 when given, so that .errno and str() work on the Python side
// (the loader does not run the constructor). errno is this host's number.
func OSError(errno int, strerror string, filename ...string) *PyError {
	p := &PyError{
		Module: builtinsModule,
		Class:  OSErrorClass(errno),
		Args:   Tuple{int64(errno), strerror},
		Attrs:  make([]Attr, 2, 2+len(filename)),
	}
	p.Attrs[0] = Attr{"errno", int64(errno)}
	p.Attrs[1] = Attr{"strerror", strerror}
	if len(filename) > 0 {
		p.Attrs = append(p.Attrs, Attr{"filename", filename[0]})
	}
	if len(filename) > 1 {
		p.Attrs = append(p.Attrs, Attr{"filename2", filename[1]})
	}
	return p
}

// QualName returns "Class" for a built-in class and "module.Class"
// otherwise.
func (e *PyError) QualName() string {
	if e.Module == builtinsModule || e.Module == "" {
		return e.Class
	}
	return e.Module + "." + e.Class
}

// Error returns "Class: message" as the last line of a Python traceback
// shows it ("ValueError: x", "KeyError: 'k'", "myservice.errors.Quota:
// ('over', 5)"), or just the class when the message is empty. The remote
// traceback is not included; see RemoteTraceback.
func (e *PyError) Error() string {
	if e == nil {
		return "<nil *PyError>"
	}
	msg := e.Message()
	if msg == "" {
		return e.QualName()
	}
	return e.QualName() + ": " + msg
}

// Message approximates Python's str() of the exception (without the remote
// traceback): "" for no args, str(arg) for one (repr for KeyError), the
// repr of the args tuple for several, and "[Errno n] strerror: 'filename'"
// for the OSError family when errno and strerror attrs are present. Unlike
// CPython it treats None-valued errno/strerror/filename attrs as absent.
func (e *PyError) Message() string {
	if e.Module == builtinsModule && osErrorClasses[e.Class] {
		if m, ok := e.osMessage(); ok {
			return m
		}
	}
	switch len(e.Args) {
	case 0:
		return ""
	case 1:
		if e.Module == builtinsModule && e.Class == "KeyError" {
			return PyRepr(e.Args[0])
		}
		return pyStr(e.Args[0])
	}
	return PyRepr(e.Args)
}

// osMessage renders OSError.__str__ from the errno/strerror/filename attrs.
func (e *PyError) osMessage() (string, bool) {
	errno, ok1 := e.Attr("errno")
	strerror, ok2 := e.Attr("strerror")
	fn, ok3 := e.Attr("filename")
	fn2, ok4 := e.Attr("filename2")
	ok3 = ok3 && fn != nil
	ok4 = ok4 && fn2 != nil
	if !ok1 || !ok2 || errno == nil || strerror == nil {
		if !ok3 {
			return "", false
		}
	}
	var b strings.Builder
	b.WriteString("[Errno ")
	b.WriteString(pyStr(errno))
	b.WriteString("] ")
	b.WriteString(pyStr(strerror))
	if ok3 {
		b.WriteString(": ")
		b.WriteString(PyRepr(fn))
		if ok4 {
			b.WriteString(" -> ")
			b.WriteString(PyRepr(fn2))
		}
	}
	return b.String(), true
}

// Attr returns the value of the attribute name, the last one when the peer
// sent it several times (as Python's setattr would keep). "_remote_version"
// is found here only when it was not a str; see RemoteVersion.
func (e *PyError) Attr(name string) (any, bool) {
	for i := len(e.Attrs) - 1; i >= 0; i-- {
		if e.Attrs[i].Name == name {
			return e.Attrs[i].Value, true
		}
	}
	return nil, false
}

// RemoteTraceback returns the traceback text the peer sent (Python's
// formatted traceback, "<traceback denied>", or "" when none was sent).
func (e *PyError) RemoteTraceback() string { return e.Traceback }

// IsStopIteration reports whether e is exactly Python's StopIteration.
func (e *PyError) IsStopIteration() bool {
	return e.Module == builtinsModule && e.Class == "StopIteration"
}

// Is makes errors.Is match exceptions by class:
//
//   - a target *PyError with no args, attrs or traceback (a class sentinel
//     such as ErrStopIteration, or NewPyError("KeyError")) matches every
//     *PyError of the same module and class;
//   - fs.ErrNotExist, fs.ErrExist and fs.ErrPermission match the built-in
//     FileNotFoundError, FileExistsError and PermissionError, and
//     errors.ErrUnsupported matches NotImplementedError, so a remote Python
//     exception can be tested like the Go error it corresponds to.
//
// Subclass relations (FileNotFoundError is an OSError) are not modelled.
func (e *PyError) Is(target error) bool {
	if t, ok := target.(*PyError); ok {
		return t != nil && len(t.Args) == 0 && len(t.Attrs) == 0 && t.Traceback == "" &&
			t.Module == e.Module && t.Class == e.Class
	}
	if e.Module != builtinsModule {
		return false
	}
	if c, ok := goSentinelClass(target); ok {
		return c == e.Class
	}
	return false
}

// VinegarOptions controls how DumpError describes an error to the peer.
type VinegarOptions struct {
	// IncludeTraceback sends traceback text (the *PyError's own Traceback, or
	// a description of the Go error chain); when false the text is
	// "<traceback denied>", as with Python's include_local_traceback=False.
	IncludeTraceback bool
	// Version is sent as the "_remote_version" attribute: VinegarVersion5
	// for a 5.x peer, VinegarVersion6 for a 6.x peer, or
	// VinegarVersionDenied. "" sends no such attribute (no warning on any
	// peer).
	Version string
}

// DumpError returns the vinegar value describing err, ready for brine (the
// args of a MSG_EXCEPTION): int64(1) for a StopIteration without args or
// attrs, else the Tuple ((module, class), args, attrs, traceback_text).
// Which Python class a Go error becomes is documented at PyErrorOf. Args
// and attr values that brine cannot carry are replaced by their repr-like
// text, and strings are made valid UTF-8. A nil err is sent as
// Exception('<nil error>').
//
// The result shares the args and attr values of a *PyError in err.
func DumpError(err error, opt VinegarOptions) any {
	p, tb := dumpSource(err, opt)
	if isStopIterationForm(p) {
		return int64(vinegarStopIteration)
	}
	args := make(Tuple, len(p.Args))
	for i, a := range p.Args {
		args[i] = wireValue(a)
	}
	n := len(p.Attrs)
	if opt.Version != "" {
		n++
	}
	attrs := make(Tuple, 0, n)
	for _, a := range p.Attrs {
		attrs = append(attrs, Tuple{validStr(a.Name), wireValue(a.Value)})
	}
	if opt.Version != "" {
		attrs = append(attrs, Tuple{attrRemoteVersion, validStr(opt.Version)})
	}
	return Tuple{
		Tuple{validStr(p.Module), validStr(p.Class)},
		args,
		attrs,
		validStr(tb),
	}
}

// AppendError appends the brine encoding of DumpError(err, opt) to dst and
// returns the extended buffer. For a *PyError whose values are all
// encodable it does not allocate beyond growing dst.
func AppendError(dst []byte, err error, opt VinegarOptions) []byte {
	p, tb := dumpSource(err, opt)
	if isStopIterationForm(p) {
		return AppendInt(dst, vinegarStopIteration)
	}
	dst = AppendTupleHeader(dst, 4)
	dst = AppendTupleHeader(dst, 2)
	dst = appendValidStr(dst, p.Module)
	dst = appendValidStr(dst, p.Class)
	dst = AppendTupleHeader(dst, len(p.Args))
	for _, a := range p.Args {
		dst = appendWireValue(dst, a)
	}
	n := len(p.Attrs)
	if opt.Version != "" {
		n++
	}
	dst = AppendTupleHeader(dst, n)
	for _, a := range p.Attrs {
		dst = AppendTupleHeader(dst, 2)
		dst = appendValidStr(dst, a.Name)
		dst = appendWireValue(dst, a.Value)
	}
	if opt.Version != "" {
		dst = AppendTupleHeader(dst, 2)
		dst = AppendStr(dst, attrRemoteVersion)
		dst = appendValidStr(dst, opt.Version)
	}
	return appendValidStr(dst, tb)
}

// dumpSource finds the PyError err stands for and the traceback text to
// send with it.
func dumpSource(err error, opt VinegarOptions) (*PyError, string) {
	if err == nil {
		err = errors.New("<nil error>")
	}
	p, direct := pyErrorOf(err)
	if !opt.IncludeTraceback {
		return p, VinegarTracebackDenied
	}
	if direct {
		return p, p.Traceback
	}
	return p, goTraceback(err, p)
}

// isStopIterationForm reports whether p goes on the wire as the int 1. Python
// sends 1 for every exact StopIteration; a StopIteration carrying args or
// attrs (a generator's return value) is sent as the 4-tuple instead so that
// nothing is lost.
func isStopIterationForm(p *PyError) bool {
	return p.IsStopIteration() && len(p.Args) == 0 && len(p.Attrs) == 0
}

// wireValue returns v when brine can carry it as is, else a str standing
// for it (v with invalid UTF-8 repaired, or its repr-like text).
func wireValue(v any) any {
	if s, ok := v.(string); ok {
		return validStr(s)
	}
	if Encodable(v) {
		return v
	}
	return validStr(PyRepr(v))
}

// appendWireValue appends wireValue(v).
func appendWireValue(dst []byte, v any) []byte {
	if s, ok := v.(string); ok {
		return appendValidStr(dst, s)
	}
	if out, err := Append(dst, v); err == nil {
		return out
	}
	return appendValidStr(dst, PyRepr(v))
}

func validStr(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func appendValidStr(dst []byte, s string) []byte {
	return AppendStr(dst, validStr(s))
}

// LoadError turns a received vinegar value (a decoded MSG_EXCEPTION args)
// into an error. The result is never nil:
//
//   - the int 1 (or True, which Python also takes for 1) gives a
//     StopIteration *PyError;
//   - the 4-tuple gives a *PyError with the module, class, args, attrs and
//     traceback text it holds; a str "_remote_version" attr is moved to
//     RemoteVersion, every other attr (known or not, e.g. Python's
//     "add_note") is kept in Attrs in wire order;
//   - a str (Python 2's string exceptions, which Python 3 cannot raise) gives
//     a *PyError of class builtins.Exception with the text as its only arg;
//   - anything else (other ints, wrong arity, non-str names, args that are
//     not a tuple, a traceback that is not a str...) gives an error wrapping
//     ErrBadMessage that says what was wrong.
//
// LoadError copies what it keeps (with Clone), so v may alias a decoder's
// buffer or a frame.
func LoadError(v any) error {
	switch x := v.(type) {
	case bool:
		if x {
			return StopIteration()
		}
	case string:
		return &PyError{Module: builtinsModule, Class: "Exception", Args: Tuple{strings.Clone(x)}}
	case Tuple:
		return loadTuple(x)
	case []any:
		return loadTuple(Tuple(x))
	default:
		if n, ok := ToInt64(v); ok && n == vinegarStopIteration {
			return StopIteration()
		}
	}
	return badVinegar("value is %s, want the int 1 or a 4-tuple", pyTypeName(v))
}

func loadTuple(t Tuple) error {
	if len(t) != 4 {
		return badVinegar("exception tuple has %d items, want 4", len(t))
	}
	name, ok := asTuple(t[0])
	if !ok || len(name) != 2 {
		return badVinegar("class name is %s, want a (module, class) 2-tuple", describe(t[0]))
	}
	module, ok1 := name[0].(string)
	class, ok2 := name[1].(string)
	if !ok1 || !ok2 {
		return badVinegar("class name holds %s and %s, want two str", pyTypeName(name[0]), pyTypeName(name[1]))
	}
	args, ok := asTuple(t[1])
	if !ok {
		return badVinegar("args is %s, want a tuple", pyTypeName(t[1]))
	}
	rawAttrs, ok := asTuple(t[2])
	if !ok {
		return badVinegar("attrs is %s, want a tuple", pyTypeName(t[2]))
	}
	tb, ok := t[3].(string)
	if !ok {
		return badVinegar("traceback text is %s, want a str", pyTypeName(t[3]))
	}
	p := &PyError{
		Module:    strings.Clone(module),
		Class:     strings.Clone(class),
		Traceback: strings.Clone(tb),
	}
	if len(args) > 0 {
		p.Args = make(Tuple, len(args))
		for i, a := range args {
			p.Args[i] = Clone(a)
		}
	}
	for i, a := range rawAttrs {
		pair, ok := asTuple(a)
		if !ok || len(pair) != 2 {
			return badVinegar("attr %d is %s, want a (name, value) 2-tuple", i, describe(a))
		}
		an, ok := pair[0].(string)
		if !ok {
			return badVinegar("attr %d name is %s, want a str", i, pyTypeName(pair[0]))
		}
		if an == attrRemoteVersion {
			if ver, ok := pair[1].(string); ok {
				p.RemoteVersion = strings.Clone(ver)
				continue
			}
		}
		p.Attrs = append(p.Attrs, Attr{Name: strings.Clone(an), Value: Clone(pair[1])})
	}
	return p
}

func asTuple(v any) (Tuple, bool) {
	switch x := v.(type) {
	case Tuple:
		return x, true
	case []any:
		return Tuple(x), true
	}
	return nil, false
}

func describe(v any) string {
	if t, ok := asTuple(v); ok {
		return fmt.Sprintf("a %d-tuple", len(t))
	}
	return pyTypeName(v)
}

func badVinegar(format string, a ...any) error {
	return fmt.Errorf("%w: vinegar: "+format, append([]any{ErrBadMessage}, a...)...)
}

// PyRepr returns Python's repr() of v for values of the package's value
// model ("'x'", "(1, 'a')", "b'\\x00'", "1e+16", "frozenset({1})"...). Other
// Go values get a Python-like rendering: slices and arrays as lists, maps as
// dicts (keys sorted), a *PyError as "Class(args...)", anything else as
// fmt's %v. It is what DumpError sends in place of an unencodable value.
func PyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

// maxReprDepth bounds nesting in PyRepr; deeper values are shown as "...".
const maxReprDepth = 200

func writeRepr(b *strings.Builder, v any, depth int) {
	if depth > maxReprDepth {
		b.WriteString("...")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int, int8, int16, int32:
		n, _ := ToInt64(x)
		b.WriteString(strconv.FormatInt(n, 10))
	case uint, uint8, uint16, uint32, uint64:
		b.WriteString(fmt.Sprint(x))
	case *big.Int:
		if x == nil {
			b.WriteString("None")
		} else {
			b.WriteString(x.String())
		}
	case float64:
		b.WriteString(floatRepr(x, true))
	case float32:
		b.WriteString(floatRepr(float64(x), true))
	case complex128:
		writeComplexRepr(b, x)
	case complex64:
		writeComplexRepr(b, complex128(x))
	case string:
		writeStrRepr(b, x)
	case []byte:
		writeBytesRepr(b, x)
	case Tuple:
		writeTupleRepr(b, x, depth)
	case []any:
		writeTupleRepr(b, x, depth)
	case FrozenSet:
		if len(x) == 0 {
			b.WriteString("frozenset()")
			return
		}
		b.WriteString("frozenset({")
		writeItems(b, x, depth)
		b.WriteString("})")
	case Slice:
		b.WriteString("slice(")
		writeRepr(b, x.Start, depth+1)
		b.WriteString(", ")
		writeRepr(b, x.Stop, depth+1)
		b.WriteString(", ")
		writeRepr(b, x.Step, depth+1)
		b.WriteByte(')')
	case Singleton:
		b.WriteString(x.String())
	case *PyError:
		if x == nil {
			b.WriteString("None")
			return
		}
		b.WriteString(x.Class)
		b.WriteByte('(')
		writeItems(b, x.Args, depth)
		b.WriteByte(')')
	case error:
		b.WriteString(x.Error())
	case fmt.Stringer:
		b.WriteString(x.String())
	default:
		writeReflectRepr(b, v, depth)
	}
}

func writeReflectRepr(b *strings.Builder, v any, depth int) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, rv.Index(i).Interface(), depth+1)
		}
		b.WriteByte(']')
	case reflect.Map:
		type kv struct{ k, v string }
		items := make([]kv, 0, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			items = append(items, kv{reprAt(it.Key().Interface(), depth+1), reprAt(it.Value().Interface(), depth+1)})
		}
		sort.Slice(items, func(i, j int) bool { return items[i].k < items[j].k })
		b.WriteByte('{')
		for i, e := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.k)
			b.WriteString(": ")
			b.WriteString(e.v)
		}
		b.WriteByte('}')
	case reflect.String:
		writeStrRepr(b, rv.String())
	case reflect.Bool:
		writeRepr(b, rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(floatRepr(rv.Float(), true))
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

// reprAt is PyRepr continuing at a nesting depth (for recursion through
// reflect without losing the depth bound).
func reprAt(v any, depth int) string {
	var b strings.Builder
	writeRepr(&b, v, depth)
	return b.String()
}

func writeTupleRepr(b *strings.Builder, items []any, depth int) {
	b.WriteByte('(')
	writeItems(b, items, depth)
	if len(items) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
}

func writeItems(b *strings.Builder, items []any, depth int) {
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(b, it, depth+1)
	}
}

// floatRepr is Python's repr(float): the shortest round-tripping digits,
// positional when the decimal exponent is in (-4, 16], else scientific with
// an exponent of at least two digits. addDot0 appends ".0" to integral
// positional values (repr does; the parts of a complex repr do not).
func floatRepr(f float64, addDot0 bool) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expText, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if decpt > -4 && decpt <= 16 {
		var out string
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits))
			if addDot0 {
				out += ".0"
			}
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
		return sign + out
	}
	out := digits[:1]
	if len(digits) > 1 {
		out += "." + digits[1:]
	}
	e := decpt - 1
	esign := "+"
	if e < 0 {
		esign, e = "-", -e
	}
	es := strconv.Itoa(e)
	if len(es) < 2 {
		es = "0" + es
	}
	return sign + out + "e" + esign + es
}

// writeComplexRepr is Python's repr(complex).
func writeComplexRepr(b *strings.Builder, c complex128) {
	re, im := real(c), imag(c)
	imText := floatRepr(im, false)
	if re == 0 && !math.Signbit(re) {
		b.WriteString(imText)
		b.WriteByte('j')
		return
	}
	b.WriteByte('(')
	b.WriteString(floatRepr(re, false))
	if imText[0] != '-' {
		b.WriteByte('+')
	}
	b.WriteString(imText)
	b.WriteString("j)")
}

// writeStrRepr is Python's repr(str).
func writeStrRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(b, "\\x%02x", s[i]) // not representable in Python
			i++
			continue
		}
		i += n
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(b, "\\x%02x", r)
		case r < 0x7f:
			b.WriteRune(r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(b, "\\x%02x", r)
		case r <= 0xffff:
			fmt.Fprintf(b, "\\u%04x", r)
		default:
			fmt.Fprintf(b, "\\U%08x", r)
		}
	}
	b.WriteByte(quote)
}

// writeBytesRepr is Python's repr(bytes).
func writeBytesRepr(b *strings.Builder, s []byte) {
	quote := byte('\'')
	if bytes.IndexByte(s, '\'') >= 0 && bytes.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte('b')
	b.WriteByte(quote)
	for _, c := range s {
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
}

// pyStr is Python's str() for values of the model: the text of a str, the
// repr of anything else.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return PyRepr(v)
}

// pyTypeName names v's Python type, for error messages.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case float32, float64:
		return "float"
	case complex64, complex128:
		return "complex"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple, []any:
		return "tuple"
	case FrozenSet:
		return "frozenset"
	case Slice:
		return "slice"
	case Singleton:
		if x == Ellipsis {
			return "ellipsis"
		}
		return "NotImplementedType"
	}
	if IsInt(v) {
		return "int"
	}
	return fmt.Sprintf("%T", v)
}
