package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rpycgo/rpycgo/netref"
)

// StreamWriter is the file-like object the server's sys.stdout or
// sys.stderr points to during a redirection: a Python peer sees it as an
// object with write(s), flush(), isatty() and writable(), and every write
// lands in the Go io.Writer. Writes are serialised.
type StreamWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewStreamWriter returns a StreamWriter writing to w.
func NewStreamWriter(w io.Writer) *StreamWriter { return &StreamWriter{w: w} }

// Write writes s (Python's file.write) and returns the number of
// characters written, as Python's text files do.
func (s *StreamWriter) Write(text string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, text); err != nil {
		return 0, err
	}
	return len([]rune(text)), nil
}

// Flush is Python's file.flush; it flushes w if w has a Flush method.
func (s *StreamWriter) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f := s.w.(type) {
	case interface{ Flush() error }:
		return f.Flush()
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}

// Isatty is Python's file.isatty: always false.
func (s *StreamWriter) Isatty() bool { return false }

// Writable is Python's file.writable: always true.
func (s *StreamWriter) Writable() bool { return true }

// RedirectStdio points the server's sys.stdout and sys.stderr at stdout and
// stderr (a nil writer leaves that stream alone) and returns a function
// that puts the original streams back. sys is process-wide on the server:
// output of every connection and thread there goes to the Go writers until
// restore is called. Remote writes arrive as requests served while the
// connection is open; they fail on the server once the connection closes.
func (cl *Client) RedirectStdio(ctx context.Context, stdout, stderr io.Writer) (restore func() error, err error) {
	sys, err := cl.Module(ctx, "sys")
	if err != nil {
		return nil, fmt.Errorf("classic: redirect stdio: %w", err)
	}
	type saved struct {
		name string
		orig any
	}
	var done []saved
	undo := func(ctx context.Context) error {
		var errs []error
		for i := len(done) - 1; i >= 0; i-- {
			if err := sys.SetAttr(ctx, done[i].name, done[i].orig); err != nil {
				errs = append(errs, fmt.Errorf("classic: restore sys.%s: %w", done[i].name, err))
			}
		}
		done = nil
		return errors.Join(errs...)
	}
	var outW, errW *StreamWriter
	if stdout != nil {
		outW = NewStreamWriter(stdout)
	}
	if stderr != nil {
		errW = NewStreamWriter(stderr)
		if outW != nil && sameWriter(stdout, stderr) {
			errW = outW // one lock for one destination
		}
	}
	for _, s := range []struct {
		name string
		w    *StreamWriter
	}{{"stdout", outW}, {"stderr", errW}} {
		if s.w == nil {
			continue
		}
		orig, err := sys.GetAttr(ctx, s.name)
		if err == nil {
			err = sys.SetAttr(ctx, s.name, netref.Wrap(s.w))
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("classic: redirect sys.%s: %w", s.name, err), undo(context.WithoutCancel(ctx)))
		}
		done = append(done, saved{s.name, orig})
	}
	var once sync.Once
	var rerr error
	return func() error {
		once.Do(func() { rerr = undo(context.WithoutCancel(ctx)) })
		return rerr
	}, nil
}

// WithRedirectedStdio runs fn with the server's sys.stdout and sys.stderr
// both writing to w (RPyC's redirected_stdio), and restores them when fn
// returns, also when it fails or panics. It returns fn's error joined with
// any failure to restore.
func (cl *Client) WithRedirectedStdio(ctx context.Context, w io.Writer, fn func() error) (err error) {
	restore, err := cl.RedirectStdio(ctx, w, w)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	return fn()
}

// sameWriter reports whether a and b are the same writer (false when their
// dynamic type is not comparable).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
