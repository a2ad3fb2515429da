package servers

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/services"
)

// pythonPath is the interpreter that has the real peer (Debian's
// python3-rpyc 5.3.0); the python3 first on PATH may be another one.
const pythonPath = "/usr/bin/python3"

var (
	pythonOnce sync.Once
	pythonErr  error
)

// requirePython fails the test (never skips it) when the real Python peer
// is missing.
func requirePython(t testing.TB) {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command(pythonPath, "-c", "import rpyc; print(rpyc.__version__)").CombinedOutput()
		if err != nil {
			pythonErr = errors.New(string(bytes.TrimSpace(out)) + ": " + err.Error())
		}
	})
	if pythonErr != nil {
		t.Fatalf("%s cannot import rpyc (%v): run `make deps` to install python3-rpyc", pythonPath, pythonErr)
	}
}

// conformanceScript is the conformance client of package services.
var conformanceScript = filepath.Join("..", "services", "testdata", "conformance_client.py")

// serversScript is this package's Python client.
var serversScript = filepath.Join("testdata", "servers_client.py")

// runPython runs a Python script with args under a deadline and returns its
// output; a non-zero exit fails the test with the output shown.
func runPython(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	out, err := runPythonErr(t, timeout, script, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(script), args, err, out)
	}
	return out
}

func runPythonErr(t *testing.T, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	requirePython(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	path, err := filepath.Abs(script)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, pythonPath, append([]string{"-u", path}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %v:\n%s", script, timeout, out)
	}
	return string(out), err
}

// testLogger logs to the test: warnings and errors always (they are
// printed only when the test fails), everything from Info up with -v.
// Lines logged after the test's cleanups have run are dropped: testing
// panics on a log after the test ends.
func testLogger(t testing.TB) zerolog.Logger {
	w := &cleanupWriter{t: t}
	t.Cleanup(w.stop)
	level := zerolog.WarnLevel
	if testing.Verbose() {
		level = zerolog.InfoLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: "15:04:05.000"}).
		Level(level).With().Timestamp().Logger()
}

// cleanupWriter writes to t.Log until stop.
type cleanupWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *cleanupWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *cleanupWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// start starts srv and closes it (with a bound) when the test ends.
func start(t testing.TB, srv Server) Server {
	t.Helper()
	require.NoError(t, srv.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

func portOf(t testing.TB, srv Server) string {
	t.Helper()
	a, ok := srv.Addr().(*net.TCPAddr)
	require.True(t, ok, "not a TCP address: %v", srv.Addr())
	return strconv.Itoa(a.Port)
}

// dial connects a Go client to srv.
func dial(t testing.TB, srv Server) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := srv.Addr()
	c, err := conn.Dial(ctx, a.Network(), a.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// call calls a method of the root of the server c is connected to.
func call(t testing.TB, c *conn.Conn, method string, args ...any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Call(ctx, method, args...)
	require.NoError(t, err, method)
	return v
}

// callAsync starts a call of a method of c's peer root and returns its
// pending result.
func callAsync(c *conn.Conn, method string, args ...any) (*dispatch.AsyncResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, err := c.Root(ctx)
	if err != nil {
		return nil, err
	}
	return root.CallMethodAsync(method, args...)
}

func svc() conn.Service { return services.Conformance() }
