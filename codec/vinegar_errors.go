package codec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// osErrorClasses is Python's OSError family (builtins), whose str() is
// rendered from the errno/strerror/filename attributes.
var osErrorClasses = map[string]bool{
	"OSError": true, "IOError": true, "EnvironmentError": true,
	"BlockingIOError": true, "ChildProcessError": true, "ConnectionError": true,
	"BrokenPipeError": true, "ConnectionAbortedError": true,
	"ConnectionRefusedError": true, "ConnectionResetError": true,
	"FileExistsError": true, "FileNotFoundError": true, "InterruptedError": true,
	"IsADirectoryError": true, "NotADirectoryError": true, "PermissionError": true,
	"ProcessLookupError": true, "TimeoutError": true,
}

// OSErrorClass returns the built-in class Python's OSError constructor picks
// for errno (PEP 3151), with this host's errno numbers: FileNotFoundError for
// ENOENT, PermissionError for EACCES and EPERM, FileExistsError for EEXIST,
// TimeoutError for ETIMEDOUT, ConnectionRefusedError for ECONNREFUSED,
// ConnectionResetError, ConnectionAbortedError, BrokenPipeError (EPIPE,
// ESHUTDOWN), BlockingIOError (EAGAIN, EWOULDBLOCK, EALREADY, EINPROGRESS),
// IsADirectoryError, NotADirectoryError, InterruptedError,
// ChildProcessError, ProcessLookupError; "OSError" for any other.
func OSErrorClass(errno int) string {
	e := syscall.Errno(errno)
	if e == syscall.EWOULDBLOCK { // equal to EAGAIN on most systems
		return "BlockingIOError"
	}
	switch e {
	case syscall.ENOENT:
		return "FileNotFoundError"
	case syscall.EACCES, syscall.EPERM:
		return "PermissionError"
	case syscall.EEXIST:
		return "FileExistsError"
	case syscall.ETIMEDOUT:
		return "TimeoutError"
	case syscall.ECONNREFUSED:
		return "ConnectionRefusedError"
	case syscall.ECONNRESET:
		return "ConnectionResetError"
	case syscall.ECONNABORTED:
		return "ConnectionAbortedError"
	case syscall.EPIPE, syscall.ESHUTDOWN:
		return "BrokenPipeError"
	case syscall.EAGAIN, syscall.EALREADY, syscall.EINPROGRESS:
		return "BlockingIOError"
	case syscall.EISDIR:
		return "IsADirectoryError"
	case syscall.ENOTDIR:
		return "NotADirectoryError"
	case syscall.EINTR:
		return "InterruptedError"
	case syscall.ECHILD:
		return "ChildProcessError"
	case syscall.ESRCH:
		return "ProcessLookupError"
	}
	return "OSError"
}

// goSentinelClass returns the built-in class that stands for one of Go's
// sentinel errors, for PyError.Is.
func goSentinelClass(target error) (string, bool) {
	switch target {
	case fs.ErrNotExist:
		return "FileNotFoundError", true
	case fs.ErrExist:
		return "FileExistsError", true
	case fs.ErrPermission:
		return "PermissionError", true
	case errors.ErrUnsupported:
		return "NotImplementedError", true
	}
	return "", false
}

// PyErrorOf returns the Python exception that DumpError sends for err. The
// mapping, tried in this order and looking through wrapping (errors.As,
// errors.Is):
//
//	*PyError anywhere in the chain       that exception, unchanged
//	syscall.Errno (in *fs.PathError,     the OSError subclass for the errno
//	  *os.LinkError, *os.SyscallError,   (OSErrorClass), args (errno,
//	  *net.OpError...)                   strerror), attrs errno, strerror
//	                                     and filename(2) from the path error
//	fs.ErrNotExist                       FileNotFoundError (ENOENT)
//	fs.ErrPermission                     PermissionError (EACCES)
//	fs.ErrExist                          FileExistsError (EEXIST)
//	context.DeadlineExceeded,            TimeoutError(err.Error())
//	  os.ErrDeadlineExceeded
//	errors.ErrUnsupported                NotImplementedError(err.Error())
//	io.EOF, io.ErrUnexpectedEOF          EOFError(err.Error())
//	anything else                        builtins.Exception(err.Error())
//
// strerror is C's text for the errno ("No such file or directory"), so
// Python's str() reads as it would for a local error. A Python caller
// catches the last row with "except Exception". The result may be shared
// with err; do not modify it.
func PyErrorOf(err error) *PyError {
	p, _ := pyErrorOf(err)
	return p
}

// pyErrorOf maps err and reports whether err is the *PyError itself (not
// wrapped, not mapped), in which case its own traceback is sent unchanged.
func pyErrorOf(err error) (*PyError, bool) {
	if p, ok := err.(*PyError); ok && p != nil {
		return p, true
	}
	var p *PyError
	if errors.As(err, &p) && p != nil {
		return p, false
	}
	var files []string
	var pe *fs.PathError
	var le *os.LinkError
	if errors.As(err, &pe) {
		files = []string{pe.Path}
	} else if errors.As(err, &le) {
		files = []string{le.Old, le.New}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return OSError(int(errno), strerror(errno), files...), false
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return OSError(int(syscall.ENOENT), strerror(syscall.ENOENT), files...), false
	case errors.Is(err, fs.ErrPermission):
		return OSError(int(syscall.EACCES), strerror(syscall.EACCES), files...), false
	case errors.Is(err, fs.ErrExist):
		return OSError(int(syscall.EEXIST), strerror(syscall.EEXIST), files...), false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return NewPyError("TimeoutError", err.Error()), false
	case errors.Is(err, errors.ErrUnsupported):
		return NewPyError("NotImplementedError", err.Error()), false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return NewPyError("EOFError", err.Error()), false
	}
	return NewPyError("Exception", err.Error()), false
}

// strerror returns C's strerror text for errno: Go's text with a capital
// first letter, which is glibc's wording on Linux.
func strerror(errno syscall.Errno) string {
	s := errno.Error()
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// maxChainLines bounds the error chain goTraceback describes.
const maxChainLines = 64

// goTraceback is the traceback text sent for a Go error: the error chain,
// outermost first, then the "Class: message" line Python would print. For a
// wrapped *PyError the exception's own traceback comes first and the chain
// follows it, so a relayed Python traceback is kept.
func goTraceback(err error, p *PyError) string {
	var b strings.Builder
	if p.Traceback != "" {
		b.WriteString(p.Traceback)
		if !strings.HasSuffix(p.Traceback, "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("Relayed by Go, error chain (outermost first):\n")
	} else {
		b.WriteString("Traceback (Go error chain, outermost first):\n")
	}
	lines := 0
	writeChain(&b, err, p, 1, &lines)
	b.WriteString(p.Error())
	b.WriteByte('\n')
	return b.String()
}

// writeChain writes one line per error of err's tree, stopping at stop.
func writeChain(b *strings.Builder, err error, stop *PyError, depth int, lines *int) {
	for err != nil {
		if *lines >= maxChainLines {
			if *lines == maxChainLines {
				b.WriteString("  ...\n")
				*lines++
			}
			return
		}
		*lines++
		b.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(b, "%T: %s\n", err, err.Error())
		if p, ok := err.(*PyError); ok && p == stop {
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				writeChain(b, e, stop, depth+1, lines)
			}
			return
		default:
			return
		}
	}
}
