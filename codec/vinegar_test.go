package codec

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// vinLoaded is the "loaded_with_default_config" object of vinegar.json: how
// the real Python loader turned the value into an exception.
type vinLoaded struct {
	LoadedAs           string   `json:"loaded_as"`
	ClassName          string   `json:"class_name"`
	ClassModule        string   `json:"class_module"`
	MRO                []string `json:"mro"`
	IsGenericException bool     `json:"is_GenericException"`
	Args               string   `json:"args"`
	StrFirstLine       string   `json:"str_first_line"`
}

type vinEntry struct {
	Name        string            `json:"name"`
	Typed       json.RawMessage   `json:"typed"`
	Hex         string            `json:"hex"`
	MessageHex  string            `json:"exception_message_hex_seq_7"`
	Loaded      vinLoaded         `json:"loaded_with_default_config"`
	LoadedAttrs map[string]string `json:"loaded_attrs"`
	IncludeTB   *bool             `json:"include_local_traceback"`
	IncludeVer  *bool             `json:"include_local_version"`
	PythonRepr  string            `json:"python_repr"`
	LoadedStr   string            `json:"loaded_str"`
}

type vinFile struct {
	Exceptions   []vinEntry `json:"exceptions"`
	MinimalForms []vinEntry `json:"minimal_forms"`
}

var vinFiles = []string{"vinegar.json", "v6/vinegar.json"}

func loadVinFile(t *testing.T, name string) vinFile {
	t.Helper()
	var f vinFile
	loadJSON(t, name, &f)
	require.NotEmpty(t, f.Exceptions, name)
	require.NotEmpty(t, f.MinimalForms, name)
	return f
}

// wantFromTyped is the PyError LoadError must give for a vinegar 4-tuple,
// computed independently from the value.
func wantFromTyped(t *testing.T, v any) *PyError {
	t.Helper()
	tup := v.(Tuple)
	require.Len(t, tup, 4)
	name := tup[0].(Tuple)
	w := &PyError{Module: name[0].(string), Class: name[1].(string), Traceback: tup[3].(string)}
	if args := tup[1].(Tuple); len(args) > 0 {
		w.Args = args
	}
	for _, a := range tup[2].(Tuple) {
		pair := a.(Tuple)
		if pair[0] == "_remote_version" {
			if s, ok := pair[1].(string); ok {
				w.RemoteVersion = s
				continue
			}
		}
		w.Attrs = append(w.Attrs, Attr{pair[0].(string), pair[1]})
	}
	return w
}

func attrsValue(attrs []Attr) Tuple {
	out := Tuple{}
	for _, a := range attrs {
		out = append(out, Tuple{a.Name, a.Value})
	}
	return out
}

// requirePyErrorEqual compares two PyErrors field by field (values with
// valueEqual).
func requirePyErrorEqual(t testing.TB, want, got *PyError, msgAndArgs ...any) {
	t.Helper()
	if d := pyErrorDiff(want, got); d != "" {
		require.Fail(t, d, msgAndArgs...)
	}
}

func pyErrorDiff(want, got *PyError) string {
	switch {
	case want.Module != got.Module || want.Class != got.Class:
		return fmt.Sprintf("class %s.%s, want %s.%s", got.Module, got.Class, want.Module, want.Class)
	case want.Traceback != got.Traceback:
		return fmt.Sprintf("traceback %q, want %q", got.Traceback, want.Traceback)
	case want.RemoteVersion != got.RemoteVersion:
		return fmt.Sprintf("remote version %q, want %q", got.RemoteVersion, want.RemoteVersion)
	}
	if d := valueDiff(Tuple(append([]any{}, want.Args...)), Tuple(append([]any{}, got.Args...))); d != "" {
		return "args: " + d
	}
	if d := valueDiff(attrsValue(want.Attrs), attrsValue(got.Attrs)); d != "" {
		return "attrs: " + d
	}
	return ""
}

func TestVinegarVectorsLoad(t *testing.T) {
	for _, file := range vinFiles {
		f := loadVinFile(t, file)
		entries := append(append([]vinEntry{}, f.Exceptions...), f.MinimalForms...)
		for i, e := range entries {
			e := e
			t.Run(fmt.Sprintf("%s/%d_%s", file, i, e.Name), func(t *testing.T) {
				v := typedToValue(t, e.Typed)
				// The brine bytes decode to the typed value.
				dec, err := Decode(mustHex(t, e.Hex))
				require.NoError(t, err)
				requireValueEqual(t, v, dec)

				got := LoadError(dec)
				require.NotNil(t, got)
				var p *PyError
				require.True(t, errors.As(got, &p), "LoadError gave %T %v", got, got)
				require.False(t, errors.Is(got, ErrBadMessage))

				if n, ok := v.(int64); ok {
					require.EqualValues(t, 1, n)
					require.Equal(t, "the StopIteration class itself (raise-able)", e.Loaded.LoadedAs)
					require.True(t, errors.Is(got, ErrStopIteration))
					require.True(t, p.IsStopIteration())
					require.Empty(t, p.Args)
					require.Empty(t, p.Attrs)
					require.Equal(t, int64(1), DumpError(got, VinegarOptions{IncludeTraceback: true}))
					return
				}
				requirePyErrorEqual(t, wantFromTyped(t, v), p)
				// Loading the typed value directly gives the same.
				var p2 *PyError
				require.True(t, errors.As(LoadError(v), &p2))
				requirePyErrorEqual(t, p, p2)

				// What Python made of it.
				require.Equal(t, e.Loaded.Args, PyRepr(p.Args), "args repr")
				if !e.Loaded.IsGenericException {
					require.Equal(t, p.Class, e.Loaded.ClassName)
					require.Equal(t, "builtins", p.Module)
				} else {
					require.Equal(t, p.Module+"."+p.Class, e.Loaded.ClassName)
				}
				// Message approximates str(); CPython prints a None filename2
				// attr (set because the constructor is not run) as "-> None",
				// which Message deliberately leaves out.
				require.Equal(t, strings.TrimSuffix(e.Loaded.StrFirstLine, " -> None"), p.Message(), "str first line")
				for name, repr := range e.LoadedAttrs {
					if name == "_remote_version" {
						require.Equal(t, repr, PyRepr(p.RemoteVersion))
						continue
					}
					val, ok := p.Attr(name)
					require.True(t, ok, "attr %s", name)
					require.Equal(t, repr, PyRepr(val), "attr %s", name)
				}
				if e.IncludeTB != nil && !*e.IncludeTB {
					require.Equal(t, VinegarTracebackDenied, p.RemoteTraceback())
				}
				if e.IncludeVer != nil {
					if *e.IncludeVer {
						require.Contains(t, []string{VinegarVersion5, VinegarVersion6}, p.RemoteVersion)
					} else {
						require.Equal(t, VinegarVersionDenied, p.RemoteVersion)
					}
				}
				// Python's own dumps re-encode byte for byte when relayed
				// with the same version (every attr is kept in order).
				opt := VinegarOptions{IncludeTraceback: true, Version: p.RemoteVersion}
				if isStopIterationForm(p) {
					require.Equal(t, "51", hex.EncodeToString(AppendError(nil, p, opt)))
					return
				}
				require.Equal(t, e.Hex, hex.EncodeToString(AppendError(nil, p, opt)))
			})
		}
	}
}

func TestVinegarMinimalFormsDump(t *testing.T) {
	for _, file := range vinFiles {
		f := loadVinFile(t, file)
		for i, e := range f.MinimalForms {
			e := e
			t.Run(fmt.Sprintf("%s/%d_%s", file, i, e.Name), func(t *testing.T) {
				v := typedToValue(t, e.Typed)
				require.True(t, strings.HasSuffix(e.MessageHex, e.Hex), "message %s ends with the vinegar value", e.MessageHex)
				var p *PyError
				require.True(t, errors.As(LoadError(v), &p))
				if e.Name == "StopIteration_tuple_form" {
					// Go sends a bare StopIteration as the int, like Python.
					require.Equal(t, "51", hex.EncodeToString(AppendError(nil, p, VinegarOptions{IncludeTraceback: true})))
					return
				}
				opt := VinegarOptions{IncludeTraceback: true, Version: p.RemoteVersion}
				dumped := DumpError(p, opt)
				requireValueEqual(t, v, dumped)
				b, err := Append(nil, dumped)
				require.NoError(t, err)
				require.Equal(t, e.Hex, hex.EncodeToString(b))
				require.Equal(t, e.Hex, hex.EncodeToString(AppendError(nil, p, opt)))
			})
		}
	}
}

// TestVinegarConstructorsDump builds the minimal forms with the
// constructors a Go service uses.
func TestVinegarConstructorsDump(t *testing.T) {
	hexOf := map[string]string{}
	for _, file := range vinFiles {
		f := loadVinFile(t, file)
		for _, e := range f.MinimalForms {
			hexOf[file+":"+e.Name] = e.Hex
		}
	}
	on := VinegarOptions{IncludeTraceback: true}
	cases := []struct {
		vector string
		err    error
		opt    VinegarOptions
	}{
		{"vinegar.json:ValueError", NewPyError("ValueError", "x"), on},
		{"vinegar.json:KeyError", Errorf("KeyError", "%s", "k"), on},
		{"vinegar.json:StopIteration_int_form", StopIteration(), on},
		{"vinegar.json:StopIteration_int_form", ErrStopIteration, VinegarOptions{}},
		{"vinegar.json:StopIteration_int_form", fmt.Errorf("iterating: %w", ErrStopIteration), on},
		{"vinegar.json:OSError_with_attrs", &PyError{Module: "builtins", Class: "OSError",
			Args: Tuple{2, "No such file"}, Attrs: []Attr{{"errno", 2}, {"strerror", "No such file"}, {"filename", "/x"}}}, on},
		{"vinegar.json:custom_module_error", &PyError{Module: "myservice.errors", Class: "QuotaExceeded",
			Args: Tuple{"over quota", 5}, Attrs: []Attr{{"limit", 5}}}, on},
		{"vinegar.json:major_version_mismatch_warning", &PyError{Module: "builtins", Class: "RuntimeError",
			Args: Tuple{"boom"}, Traceback: "remote tb\n"}, VinegarOptions{IncludeTraceback: true, Version: "6.0.0"}},
		{"v6/vinegar.json:remote_version_6.0.2 (no warning)", &PyError{Module: "builtins", Class: "RuntimeError",
			Args: Tuple{"boom"}, Traceback: "remote tb\n"}, VinegarOptions{IncludeTraceback: true, Version: VinegarVersion6}},
		{"v6/vinegar.json:remote_version_denied (no warning)", &PyError{Module: "builtins", Class: "RuntimeError",
			Args: Tuple{"boom"}, Traceback: "remote tb\n"}, VinegarOptions{IncludeTraceback: true, Version: VinegarVersionDenied}},
		{"v6/vinegar.json:remote_version_absent (no warning)", &PyError{Module: "builtins", Class: "RuntimeError",
			Args: Tuple{"boom"}, Traceback: "remote tb\n"}, on},
	}
	for _, c := range cases {
		want, ok := hexOf[c.vector]
		require.True(t, ok, c.vector)
		b, err := Append(nil, DumpError(c.err, c.opt))
		require.NoError(t, err, c.vector)
		require.Equal(t, want, hex.EncodeToString(b), c.vector)
		require.Equal(t, want, hex.EncodeToString(AppendError(nil, c.err, c.opt)), c.vector)
	}
	// OSError() itself: errno, strerror, filename attrs; the class follows
	// the errno.
	p := OSError(int(syscall.ENOENT), "No such file", "/x")
	require.Equal(t, "FileNotFoundError", p.Class)
	require.Equal(t, Tuple{int64(syscall.ENOENT), "No such file"}, p.Args)
	require.Equal(t, []Attr{{"errno", int64(syscall.ENOENT)}, {"strerror", "No such file"}, {"filename", "/x"}}, p.Attrs)
}

func TestVinegarDumpOptions(t *testing.T) {
	p := &PyError{Module: "builtins", Class: "ValueError", Args: Tuple{"x"}, Traceback: "Traceback...\nValueError: x\n"}

	v := DumpError(p, VinegarOptions{}).(Tuple)
	require.Equal(t, VinegarTracebackDenied, v[3])
	require.Equal(t, Tuple{}, v[2])

	v = DumpError(p, VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}).(Tuple)
	require.Equal(t, p.Traceback, v[3], "a PyError's own traceback is sent unchanged")
	require.Equal(t, Tuple{Tuple{"_remote_version", "5.3.0"}}, v[2])

	// Values brine cannot carry become repr-like text, invalid UTF-8 is
	// repaired, everything else is kept as is.
	odd := &PyError{Module: "builtins", Class: "ValueError",
		Args:  Tuple{[]int{1, 2, 3}, "bad\xffutf8", Tuple{"ok", 1.5}, map[string]int{"b": 2, "a": 1}, struct{ A int }{7}},
		Attrs: []Attr{{"obj", []string{"q"}}, {"n\xff", nil}}}
	v = DumpError(odd, VinegarOptions{IncludeTraceback: true}).(Tuple)
	require.Equal(t, Tuple{"[1, 2, 3]", "bad\uFFFDutf8", Tuple{"ok", 1.5}, "{'a': 1, 'b': 2}", "{7}"}, v[1])
	require.Equal(t, Tuple{Tuple{"obj", "['q']"}, Tuple{"n\uFFFD", nil}}, v[2])
	requireSameBytes(t, odd, VinegarOptions{IncludeTraceback: true, Version: VinegarVersion6})

	// A nil error is described rather than crashing.
	require.NotPanics(t, func() { DumpError(nil, VinegarOptions{IncludeTraceback: true}) })
}

// requireSameBytes checks AppendError against Append(DumpError).
func requireSameBytes(t *testing.T, err error, opt VinegarOptions) {
	t.Helper()
	b, e := Append(nil, DumpError(err, opt))
	require.NoError(t, e)
	require.Equal(t, hex.EncodeToString(b), hex.EncodeToString(AppendError(nil, err, opt)))
}

// missingPath returns a path that does not exist.
func missingPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "missing.txt")
}

// refusedDialError dials a port nothing listens on.
func refusedDialError(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = net.DialTimeout("tcp", addr, 5*time.Second)
	require.Error(t, err)
	return err
}

type vinMapCase struct {
	name     string
	err      error
	module   string
	class    string
	args     Tuple
	attrs    []Attr
	message  string
	chainHas []string // in the Go traceback text
}

func vinMappingCases(t *testing.T) []vinMapCase {
	missing := missingPath(t)
	_, openErr := os.Open(missing)
	require.Error(t, openErr)
	dir := t.TempDir()
	existing := filepath.Join(dir, "a")
	require.NoError(t, os.WriteFile(existing, nil, 0o600))
	linkErr := os.Link(existing, existing)
	require.Error(t, linkErr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	wrappedPy := NewPyError("KeyError", "k")
	enoent := strerror(syscall.ENOENT)
	return []vinMapCase{
		{name: "PyError", err: NewPyError("ValueError", "x"), module: "builtins", class: "ValueError",
			args: Tuple{"x"}, message: "x"},
		{name: "wrapped PyError", err: fmt.Errorf("looking up: %w", wrappedPy), module: "builtins", class: "KeyError",
			args: Tuple{"k"}, message: "'k'", chainHas: []string{"*fmt.wrapError: looking up: KeyError: 'k'", "*codec.PyError: KeyError: 'k'"}},
		{name: "syscall.ENOENT", err: syscall.ENOENT, module: "builtins", class: "FileNotFoundError",
			args:    Tuple{int64(syscall.ENOENT), enoent},
			attrs:   []Attr{{"errno", int64(syscall.ENOENT)}, {"strerror", enoent}},
			message: fmt.Sprintf("[Errno %d] %s", int(syscall.ENOENT), enoent)},
		{name: "os.Open missing", err: fmt.Errorf("loading config: %w", openErr), module: "builtins", class: "FileNotFoundError",
			args:     Tuple{int64(syscall.ENOENT), enoent},
			attrs:    []Attr{{"errno", int64(syscall.ENOENT)}, {"strerror", enoent}, {"filename", missing}},
			message:  fmt.Sprintf("[Errno %d] %s: %s", int(syscall.ENOENT), enoent, PyRepr(missing)),
			chainHas: []string{"*fmt.wrapError: loading config: open ", "*fs.PathError: open ", "syscall.Errno: no such file or directory"}},
		{name: "fs.ErrNotExist in PathError", err: &fs.PathError{Op: "open", Path: "x.txt", Err: fs.ErrNotExist}, module: "builtins",
			class: "FileNotFoundError", args: Tuple{int64(syscall.ENOENT), enoent},
			attrs:   []Attr{{"errno", int64(syscall.ENOENT)}, {"strerror", enoent}, {"filename", "x.txt"}},
			message: fmt.Sprintf("[Errno %d] %s: 'x.txt'", int(syscall.ENOENT), enoent)},
		{name: "fs.ErrPermission", err: fs.ErrPermission, module: "builtins", class: "PermissionError",
			args:    Tuple{int64(syscall.EACCES), strerror(syscall.EACCES)},
			attrs:   []Attr{{"errno", int64(syscall.EACCES)}, {"strerror", strerror(syscall.EACCES)}},
			message: fmt.Sprintf("[Errno %d] %s", int(syscall.EACCES), strerror(syscall.EACCES))},
		{name: "os.SyscallError EPERM", err: os.NewSyscallError("kill", syscall.EPERM), module: "builtins", class: "PermissionError",
			args:  Tuple{int64(syscall.EPERM), strerror(syscall.EPERM)},
			attrs: []Attr{{"errno", int64(syscall.EPERM)}, {"strerror", strerror(syscall.EPERM)}}},
		{name: "os.Link exists", err: linkErr, module: "builtins", class: "FileExistsError",
			args: Tuple{int64(syscall.EEXIST), strerror(syscall.EEXIST)},
			attrs: []Attr{{"errno", int64(syscall.EEXIST)}, {"strerror", strerror(syscall.EEXIST)},
				{"filename", existing}, {"filename2", existing}},
			message: fmt.Sprintf("[Errno %d] %s: %s -> %s", int(syscall.EEXIST), strerror(syscall.EEXIST), PyRepr(existing), PyRepr(existing))},
		{name: "dial refused", err: refusedDialError(t), module: "builtins", class: "ConnectionRefusedError",
			args:  Tuple{int64(syscall.ECONNREFUSED), strerror(syscall.ECONNREFUSED)},
			attrs: []Attr{{"errno", int64(syscall.ECONNREFUSED)}, {"strerror", strerror(syscall.ECONNREFUSED)}}},
		{name: "context.DeadlineExceeded", err: ctx.Err(), module: "builtins", class: "TimeoutError",
			args: Tuple{"context deadline exceeded"}, message: "context deadline exceeded"},
		{name: "os.ErrDeadlineExceeded", err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded), module: "builtins", class: "TimeoutError",
			args: Tuple{"read: i/o timeout"}},
		{name: "errors.ErrUnsupported", err: errors.ErrUnsupported, module: "builtins", class: "NotImplementedError",
			args: Tuple{"unsupported operation"}},
		{name: "io.ErrUnexpectedEOF", err: io.ErrUnexpectedEOF, module: "builtins", class: "EOFError",
			args: Tuple{"unexpected EOF"}},
		{name: "generic", err: errors.New("disk on fire"), module: "builtins", class: "Exception",
			args: Tuple{"disk on fire"}, message: "disk on fire", chainHas: []string{"*errors.errorString: disk on fire"}},
		{name: "joined", err: errors.Join(errors.New("one"), errors.New("two")), module: "builtins", class: "Exception",
			args: Tuple{"one\ntwo"}, chainHas: []string{"    *errors.errorString: one\n", "    *errors.errorString: two\n"}},
	}
}

func TestVinegarGoErrorMapping(t *testing.T) {
	for _, c := range vinMappingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := PyErrorOf(c.err)
			require.Equal(t, c.module, p.Module)
			require.Equal(t, c.class, p.Class)
			requireValueEqual(t, c.args, p.Args)
			requireValueEqual(t, attrsValue(c.attrs), attrsValue(p.Attrs))
			if c.message != "" {
				require.Equal(t, c.message, p.Message())
			}

			opt := VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}
			requireSameBytes(t, c.err, opt)
			v := DumpError(c.err, opt).(Tuple)
			tb := v[3].(string)
			if c.err == error(p) {
				require.Equal(t, p.Traceback, tb)
			} else {
				require.True(t, strings.HasPrefix(tb, p.Traceback+"Traceback (Go error chain, outermost first):\n") ||
					strings.HasPrefix(tb, "Traceback (Go error chain"), tb)
				require.True(t, strings.HasSuffix(tb, "\n"+p.Error()+"\n"), tb)
				for _, s := range c.chainHas {
					require.Contains(t, tb, s)
				}
			}
			// Round trip through the wire.
			dec, err := Decode(AppendError(nil, c.err, opt))
			require.NoError(t, err)
			var back *PyError
			require.True(t, errors.As(LoadError(dec), &back))
			require.Equal(t, VinegarVersion5, back.RemoteVersion)
			require.Equal(t, tb, back.Traceback)
			back.Traceback, back.RemoteVersion = p.Traceback, ""
			requirePyErrorEqual(t, p, back)
		})
	}
}

func TestVinegarWrappedPythonTraceback(t *testing.T) {
	// A Python exception relayed by Go keeps the Python traceback; a Go
	// wrapper adds its chain after it.
	py := &PyError{Module: "builtins", Class: "ValueError", Args: Tuple{"x"},
		Traceback: "Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: x\n", RemoteVersion: "5.3.0"}
	v := DumpError(py, VinegarOptions{IncludeTraceback: true}).(Tuple)
	require.Equal(t, py.Traceback, v[3])
	require.Equal(t, Tuple{}, v[2], "the peer's _remote_version is not echoed")

	v = DumpError(fmt.Errorf("calling backend: %w", py), VinegarOptions{IncludeTraceback: true}).(Tuple)
	tb := v[3].(string)
	require.True(t, strings.HasPrefix(tb, py.Traceback+"Relayed by Go, error chain (outermost first):\n"), tb)
	require.Contains(t, tb, "  *fmt.wrapError: calling backend: ValueError: x\n  *codec.PyError: ValueError: x\nValueError: x\n")

	v = DumpError(fmt.Errorf("calling backend: %w", py), VinegarOptions{}).(Tuple)
	require.Equal(t, VinegarTracebackDenied, v[3])
}

func TestVinegarRoundTrip(t *testing.T) {
	big1 := new(big.Int).Lsh(big.NewInt(1), 100)
	cases := []*PyError{
		NewPyError("ValueError", "x"),
		NewPyError("ValueError"),
		NewPyError("Exception", "a", int64(1), nil, true, 2.5, math.Inf(-1), complex(1, -2), []byte{0, 1}, big1,
			Tuple{Tuple{}, FrozenSet{int64(1)}}, Slice{nil, int64(3), nil}, Ellipsis, NotImplemented),
		OSError(int(syscall.EEXIST), "File exists", "/a", "/b"),
		{Module: "goengine.errors", Class: "Quota", Args: Tuple{"over"}, Attrs: []Attr{{"limit", int64(5)}, {"add_note", "<m>"}},
			Traceback: "tb\n"},
		{Module: "builtins", Class: "StopIteration", Args: Tuple{int64(42)}}, // a generator's return value
		{Module: "builtins", Class: "StopIteration", Attrs: []Attr{{"value", nil}}},
	}
	for _, opt := range []VinegarOptions{{IncludeTraceback: true}, {IncludeTraceback: true, Version: VinegarVersion6}} {
		for _, p := range cases {
			b := AppendError(nil, p, opt)
			dec, err := Decode(b)
			require.NoError(t, err)
			var back *PyError
			require.True(t, errors.As(LoadError(dec), &back))
			want := *p
			want.RemoteVersion = opt.Version
			requirePyErrorEqual(t, &want, back, p.Error())
		}
	}
	// Bare StopIteration travels as the int 1.
	require.Equal(t, int64(1), DumpError(StopIteration(), VinegarOptions{IncludeTraceback: true, Version: "5.3.0"}))
	require.Equal(t, "51", hex.EncodeToString(AppendError(nil, StopIteration(), VinegarOptions{})))
}

func TestVinegarLoad(t *testing.T) {
	// int 1 (and True, which Python compares equal to 1) is StopIteration.
	for _, v := range []any{int64(1), 1, uint8(1), big.NewInt(1), true} {
		err := LoadError(v)
		require.True(t, errors.Is(err, ErrStopIteration), "%T", v)
		require.NotSame(t, ErrStopIteration, err, "a fresh value, the sentinel stays untouched")
	}
	// Legacy string exceptions.
	var p *PyError
	require.True(t, errors.As(LoadError("old style"), &p))
	requirePyErrorEqual(t, &PyError{Module: "builtins", Class: "Exception", Args: Tuple{"old style"}}, p)

	// []any is accepted like Tuple; unknown attrs are kept in order, a
	// non-str _remote_version stays an attr.
	require.True(t, errors.As(LoadError([]any{[]any{"m", "C"}, []any{}, Tuple{
		Tuple{"add_note", "<x>"}, Tuple{"_remote_version", int64(5)}, Tuple{"z", nil}, Tuple{"_remote_version", "6.0.2"}}, ""}), &p))
	require.Equal(t, "6.0.2", p.RemoteVersion)
	require.Equal(t, []Attr{{"add_note", "<x>"}, {"_remote_version", int64(5)}, {"z", nil}}, p.Attrs)
	v, ok := p.Attr("_remote_version")
	require.True(t, ok)
	require.Equal(t, int64(5), v)
	_, ok = p.Attr("nope")
	require.False(t, ok)

	// LoadError copies: changing the input afterwards does not change it.
	buf := []byte("shared")
	in := Tuple{Tuple{"builtins", "ValueError"}, Tuple{buf}, Tuple{}, ""}
	require.True(t, errors.As(LoadError(in), &p))
	buf[0] = 'X'
	require.Equal(t, []byte("shared"), p.Args[0])

	bad := []struct {
		v    any
		want string
	}{
		{nil, "value is NoneType"},
		{int64(2), "value is int"},
		{false, "value is bool"},
		{1.0, "value is float"},
		{Tuple{}, "has 0 items"},
		{Tuple{1, 2, 3, 4, 5}, "has 5 items"},
		{Tuple{"builtins.ValueError", Tuple{}, Tuple{}, ""}, "class name is str"},
		{Tuple{Tuple{"builtins"}, Tuple{}, Tuple{}, ""}, "class name is a 1-tuple"},
		{Tuple{Tuple{"builtins", int64(3)}, Tuple{}, Tuple{}, ""}, "holds str and int"},
		{Tuple{Tuple{"builtins", "ValueError"}, "x", Tuple{}, ""}, "args is str"},
		{Tuple{Tuple{"builtins", "ValueError"}, Tuple{}, nil, ""}, "attrs is NoneType"},
		{Tuple{Tuple{"builtins", "ValueError"}, Tuple{}, Tuple{"errno"}, ""}, "attr 0 is str"},
		{Tuple{Tuple{"builtins", "ValueError"}, Tuple{}, Tuple{Tuple{"a", 1, 2}}, ""}, "attr 0 is a 3-tuple"},
		{Tuple{Tuple{"builtins", "ValueError"}, Tuple{}, Tuple{Tuple{int64(1), 2}}, ""}, "attr 0 name is int"},
		{Tuple{Tuple{"builtins", "ValueError"}, Tuple{}, Tuple{}, nil}, "traceback text is NoneType"},
		{map[string]any{}, "value is map[string]interface {}"},
	}
	for _, c := range bad {
		err := LoadError(c.v)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrBadMessage), "%v", err)
		require.False(t, errors.As(err, &p), "%v", err)
		require.Contains(t, err.Error(), c.want)
	}
}

func TestVinegarPyErrorMethods(t *testing.T) {
	cases := []struct {
		err  *PyError
		want string
	}{
		{NewPyError("ValueError", "x"), "ValueError: x"},
		{NewPyError("ValueError"), "ValueError"},
		{NewPyError("KeyError", "k"), "KeyError: 'k'"},
		{NewPyError("KeyError", int64(3)), "KeyError: 3"},
		{NewPyError("TypeError", "a", int64(1)), "TypeError: ('a', 1)"},
		{NewPyError("IndexError", int64(7)), "IndexError: 7"},
		{&PyError{Module: "myservice.errors", Class: "QuotaExceeded", Args: Tuple{"over quota", int64(5)}},
			"myservice.errors.QuotaExceeded: ('over quota', 5)"},
		{OSError(2, "No such file or directory"), "FileNotFoundError: [Errno 2] No such file or directory"},
		{OSError(2, "No such file or directory", "/x"), "FileNotFoundError: [Errno 2] No such file or directory: '/x'"},
		{OSError(17, "File exists", "a", "b"), "FileExistsError: [Errno 17] File exists: 'a' -> 'b'"},
		{&PyError{Module: "builtins", Class: "OSError", Args: Tuple{"just text"}}, "OSError: just text"},
		{&PyError{Module: "builtins", Class: "OSError", Args: Tuple{"t"}, Attrs: []Attr{{"errno", nil}, {"strerror", nil}, {"filename", nil}}}, "OSError: t"},
		{StopIteration(), "StopIteration"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.err.Error())
	}
	var nilErr *PyError
	require.NotPanics(t, func() { _ = nilErr.Error() })

	// errors.Is by class.
	ke := fmt.Errorf("ctx: %w", NewPyError("KeyError", "k"))
	require.True(t, errors.Is(ke, NewPyError("KeyError")))
	require.False(t, errors.Is(ke, NewPyError("KeyError", "other")), "a target with args is not a class sentinel")
	require.False(t, errors.Is(ke, NewPyError("ValueError")))
	require.False(t, errors.Is(ke, ErrStopIteration))
	require.True(t, errors.Is(fmt.Errorf("x: %w", StopIteration()), ErrStopIteration))
	require.False(t, errors.Is(&PyError{Module: "other", Class: "StopIteration"}, ErrStopIteration))
	require.True(t, errors.Is(OSError(int(syscall.ENOENT), "x"), fs.ErrNotExist))
	require.True(t, errors.Is(NewPyError("PermissionError"), fs.ErrPermission))
	require.True(t, errors.Is(NewPyError("FileExistsError"), fs.ErrExist))
	require.True(t, errors.Is(NewPyError("NotImplementedError"), errors.ErrUnsupported))
	require.False(t, errors.Is(&PyError{Module: "x", Class: "FileNotFoundError"}, fs.ErrNotExist))
	require.False(t, errors.Is(NewPyError("ValueError"), fs.ErrNotExist))

	// OSErrorClass follows Python's errno table.
	for errno, class := range map[syscall.Errno]string{
		syscall.ENOENT: "FileNotFoundError", syscall.EACCES: "PermissionError", syscall.EPERM: "PermissionError",
		syscall.EEXIST: "FileExistsError", syscall.ETIMEDOUT: "TimeoutError", syscall.ECONNREFUSED: "ConnectionRefusedError",
		syscall.ECONNRESET: "ConnectionResetError", syscall.ECONNABORTED: "ConnectionAbortedError",
		syscall.EPIPE: "BrokenPipeError", syscall.ESHUTDOWN: "BrokenPipeError", syscall.EAGAIN: "BlockingIOError",
		syscall.EINPROGRESS: "BlockingIOError", syscall.EALREADY: "BlockingIOError",
		syscall.EISDIR: "IsADirectoryError", syscall.ENOTDIR: "NotADirectoryError", syscall.EINTR: "InterruptedError",
		syscall.ECHILD: "ChildProcessError", syscall.ESRCH: "ProcessLookupError", syscall.EIO: "OSError",
	} {
		require.Equal(t, class, OSErrorClass(int(errno)), "%v", errno)
	}
}

// TestVinegarPyRepr checks PyRepr against texts produced by CPython 3.11.
func TestVinegarPyRepr(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{nil, "None"}, {true, "True"}, {false, "False"}, {int64(-5), "-5"}, {uint64(math.MaxUint64), "18446744073709551615"},
		{new(big.Int).Lsh(big.NewInt(1), 70), "1180591620717411303424"},
		{0.0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1.5, "1.5"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{1e-5, "1e-05"}, {0.0001, "0.0001"}, {0.1, "0.1"}, {1e300, "1e+300"}, {5e-324, "5e-324"},
		{123456789.125, "123456789.125"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
		{-1.5e-7, "-1.5e-07"}, {float32(0.5), "0.5"},
		{complex(1, 2), "(1+2j)"}, {complex(0, 1.5), "1.5j"}, {complex(1, math.Copysign(0, -1)), "(1-0j)"},
		{complex(math.Copysign(0, -1), 1), "(-0+1j)"}, {complex(1, math.NaN()), "(1+nanj)"}, {complex(0, math.Inf(1)), "infj"},
		{"", "''"}, {"x", "'x'"}, {"a'b", `"a'b"`}, {`a'b"`, `'a\'b"'`}, {"\x00\u00a0\u2028é", `'\x00\xa0\u2028é'`},
		{"tab\tnl\ncr\r\\", `'tab\tnl\ncr\r\\'`}, {"\x7f\U0001F600\U000E0001", `'\x7f😀\U000e0001'`},
		{[]byte{}, "b''"}, {[]byte("\x00a'\""), `b'\x00a\'"'`}, {[]byte("it's"), `b"it's"`}, {[]byte{0x80, '\n'}, `b'\x80\n'`},
		{Tuple{}, "()"}, {Tuple{int64(1)}, "(1,)"}, {Tuple{"a", Tuple{}}, "('a', ())"}, {[]any{int64(1), int64(2)}, "(1, 2)"},
		{FrozenSet{}, "frozenset()"}, {FrozenSet{int64(1)}, "frozenset({1})"},
		{Slice{int64(1), nil, nil}, "slice(1, None, None)"}, {Ellipsis, "Ellipsis"}, {NotImplemented, "NotImplemented"},
		{[]int{1, 2, 3}, "[1, 2, 3]"}, {map[string]bool{"y": true, "x": false}, "{'x': False, 'y': True}"},
		{NewPyError("ValueError", "x"), "ValueError('x')"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, PyRepr(c.v), "%#v", c.v)
	}
	deep := any(Tuple{})
	for i := 0; i < 1000; i++ {
		deep = Tuple{deep}
	}
	require.Contains(t, PyRepr(deep), "...")
}

func TestVinegarAppendErrorAllocs(t *testing.T) {
	p := NewPyError("ValueError", "bad value", int64(3))
	opt := VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendError(buf[:0], p, opt) })
	require.Zero(t, allocs)
}

func BenchmarkVinegarAppendError(b *testing.B) {
	p := NewPyError("ValueError", "bad value", int64(3))
	opt := VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendError(buf[:0], p, opt)
	}
}

func BenchmarkVinegarLoadError(b *testing.B) {
	data := AppendError(nil, OSError(2, "No such file or directory", "/x"), VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5})
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		v, _, err := d.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		_ = LoadError(v)
	}
}

// --- interop with the real Python rpyc ---

const vinPython = "/usr/bin/python3"

// vinPyResult is one line printed by testdata/vinegar_check.py.
type vinPyResult struct {
	ID                 int      `json:"id"`
	Fatal              string   `json:"fatal"`
	Error              string   `json:"error"`
	RPyCVersion        string   `json:"rpyc_version"`
	LoadedAsClass      bool     `json:"loaded_as_class"`
	ClassName          string   `json:"class_name"`
	ClassModule        string   `json:"class_module"`
	MRO                []string `json:"mro"`
	DirectBase         string   `json:"direct_base"`
	IsGenericException bool     `json:"is_GenericException"`
	IsException        bool     `json:"is_Exception"`
	Catches            []string `json:"catches"`
	Args               string   `json:"args"`
	Str                string   `json:"str"`
	StrFirstLine       string   `json:"str_first_line"`
	Errno              *int64   `json:"errno"`
	Strerror           *string  `json:"strerror"`
	Filename           *string  `json:"filename"`
}

// runVinegarCheck loads each hex vinegar value with the real Python rpyc.
func runVinegarCheck(t *testing.T, hexes []string) []vinPyResult {
	t.Helper()
	const deps = "the interop test needs Python rpyc 5.3 importable by " + vinPython + "; run `make deps`"
	if _, err := os.Stat(vinPython); err != nil {
		t.Fatalf("%s not found (%v): %s", vinPython, err, deps)
	}
	var in strings.Builder
	for i, h := range hexes {
		line, err := json.Marshal(map[string]any{"id": i, "hex": h})
		require.NoError(t, err)
		in.Write(line)
		in.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vinPython, filepath.Join("testdata", "vinegar_check.py"))
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var results []vinPyResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r vinPyResult
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "line %q", sc.Text())
		if r.Fatal != "" {
			t.Fatalf("%s: %s", r.Fatal, deps)
		}
		results = append(results, r)
	}
	if err != nil {
		t.Fatalf("vinegar_check.py failed: %v\nstderr: %s\n%s", err, stderr.String(), deps)
	}
	require.Len(t, results, len(hexes), "stderr: %s", stderr.String())
	for i, r := range results {
		require.Equal(t, i, r.ID)
		require.Empty(t, r.Error, "python could not load value %d (%s)", i, hexes[i])
		require.Equal(t, "5.3.0", r.RPyCVersion)
	}
	return results
}

func TestVinegarPythonInterop(t *testing.T) {
	type check struct {
		name      string
		err       error
		opt       *VinegarOptions
		class     string // Python class name
		generic   bool   // a GenericException stand-in
		args      string // repr of .args ("" = not checked)
		firstLine string // str(e) first line ("" = not checked)
		errno     int64
		strerror  string
		filename  string
		strHas    []string
		strHasNot []string
	}
	missing := missingPath(t)
	_, openErr := os.Open(missing)
	require.Error(t, openErr)
	enoent := strerror(syscall.ENOENT)

	var checks []check
	// SERVICE.md raise_error's builtins, as a Go service raises them.
	for _, name := range []string{"ValueError", "KeyError", "TypeError", "IndexError", "RuntimeError",
		"AttributeError", "NotImplementedError", "ZeroDivisionError"} {
		msg := "boom from Go: " + name
		first := msg
		if name == "KeyError" {
			first = "'" + msg + "'"
		}
		checks = append(checks, check{name: name, err: Errorf(name, "%s", msg), class: name,
			args: "('" + msg + "',)", firstLine: first, strHasNot: []string{"WARNING"}})
	}
	eio := strerror(syscall.EIO)
	checks = append(checks,
		check{name: "OSError", err: OSError(int(syscall.EIO), eio), class: "OSError",
			args: fmt.Sprintf("(%d, '%s')", int(syscall.EIO), eio), firstLine: fmt.Sprintf("[Errno %d] %s", int(syscall.EIO), eio),
			errno: int64(syscall.EIO), strerror: eio},
		check{name: "StopIteration", err: StopIteration(), class: "StopIteration"},
		check{name: "wrapped ErrStopIteration", err: fmt.Errorf("done: %w", ErrStopIteration), class: "StopIteration"},
		check{name: "FileNotFoundError from os.Open", err: fmt.Errorf("reading: %w", openErr), class: "FileNotFoundError",
			args:      fmt.Sprintf("(%d, '%s')", int(syscall.ENOENT), enoent),
			firstLine: fmt.Sprintf("[Errno %d] %s: %s", int(syscall.ENOENT), enoent, PyRepr(missing)),
			errno:     int64(syscall.ENOENT), strerror: enoent, filename: missing,
			strHas: []string{"Remote Traceback (1)", "Traceback (Go error chain, outermost first):", "*fs.PathError: open "}},
		check{name: "FileNotFoundError from syscall.ENOENT", err: syscall.ENOENT, class: "FileNotFoundError",
			firstLine: "[Errno 2] No such file or directory", errno: 2, strerror: "No such file or directory"},
		check{name: "ConnectionRefusedError from dial", err: refusedDialError(t), class: "ConnectionRefusedError",
			errno: int64(syscall.ECONNREFUSED), strerror: "Connection refused", firstLine: fmt.Sprintf("[Errno %d] Connection refused", int(syscall.ECONNREFUSED))},
		check{name: "TimeoutError from context", err: context.DeadlineExceeded, class: "TimeoutError",
			args: "('context deadline exceeded',)", firstLine: "context deadline exceeded"},
		check{name: "generic Go error", err: errors.New("plain go failure"), class: "Exception",
			args: "('plain go failure',)", firstLine: "plain go failure"},
		check{name: "Go-only class", err: &PyError{Module: "goengine.errors", Class: "QuotaExceeded", Args: Tuple{"over quota", 5},
			Attrs: []Attr{{"limit", 5}}}, class: "goengine.errors.QuotaExceeded", generic: true,
			args: "('over quota', 5)", firstLine: "('over quota', 5)"},
		check{name: "version 6 warns a 5.3 loader", err: NewPyError("ValueError", "v"),
			opt:   &VinegarOptions{IncludeTraceback: true, Version: VinegarVersion6},
			class: "ValueError", args: "('v',)", strHas: []string{"WARNING: Remote is on RPyC 6.0.2 and local is on RPyC 5.3.0."}},
		check{name: "traceback denied", err: errors.New("secret"), opt: &VinegarOptions{},
			class: "Exception", strHas: []string{"<traceback denied>"}, strHasNot: []string{"Go error chain"}},
	)
	// A Python exception relayed through Go keeps its Python traceback.
	var f vinFile
	loadJSON(t, "vinegar.json", &f)
	var relayed *PyError
	require.True(t, errors.As(LoadError(typedToValue(t, f.Exceptions[0].Typed)), &relayed))
	require.Contains(t, relayed.Traceback, `raise ValueError("x")`)
	checks = append(checks,
		check{name: "relayed Python exception", err: relayed, class: "ValueError", args: "('x',)", firstLine: "x",
			strHas: []string{"Remote Traceback (1)", `raise ValueError("x")`}},
		check{name: "relayed and wrapped", err: fmt.Errorf("backend: %w", relayed), class: "ValueError", args: "('x',)",
			strHas: []string{`raise ValueError("x")`, "Relayed by Go", "*fmt.wrapError: backend: ValueError: x"}},
	)

	hexes := make([]string, len(checks))
	for i, c := range checks {
		opt := VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}
		if c.opt != nil {
			opt = *c.opt
		}
		hexes[i] = hex.EncodeToString(AppendError(nil, c.err, opt))
	}
	results := runVinegarCheck(t, hexes)
	for i, c := range checks {
		r := results[i]
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.class, r.ClassName)
			require.Equal(t, c.generic, r.IsGenericException)
			require.True(t, r.IsException, "catchable as Exception")
			require.Contains(t, r.Catches, "Exception")
			if c.generic {
				require.Contains(t, r.MRO, "rpyc.core.vinegar.GenericException")
				require.Equal(t, "rpyc.core.vinegar/"+c.err.(*PyError).Module, r.ClassModule)
			} else {
				require.Equal(t, "builtins", r.ClassModule)
				require.Contains(t, r.Catches, c.class)
				if c.class == "StopIteration" {
					require.True(t, r.LoadedAsClass, "the int 1 loads as the class itself")
				} else {
					// rpyc raises a subclass named like the builtin, whose
					// direct base is the builtin.
					require.Equal(t, "builtins."+c.class, r.DirectBase)
					require.Equal(t, "builtins."+c.class, r.MRO[1])
				}
			}
			if c.args != "" {
				require.Equal(t, c.args, r.Args)
			}
			if c.firstLine != "" {
				require.Equal(t, c.firstLine, r.StrFirstLine)
			}
			if c.errno != 0 {
				require.NotNil(t, r.Errno)
				require.Equal(t, c.errno, *r.Errno)
				require.NotNil(t, r.Strerror)
				require.Equal(t, c.strerror, *r.Strerror)
			}
			if c.filename != "" {
				require.NotNil(t, r.Filename)
				require.Equal(t, c.filename, *r.Filename)
			}
			for _, s := range c.strHas {
				require.Contains(t, r.Str, s)
			}
			for _, s := range c.strHasNot {
				require.NotContains(t, r.Str, s)
			}
		})
	}
}
