package services_test

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

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

// pythonPath is the interpreter that has the real peer (Debian's
// python3-rpyc 5.3.0); the python3 first on PATH may be another one.
const pythonPath = "/usr/bin/python3"

var (
	pythonOnce sync.Once
	pythonErr  error
)

// requirePython fails the test (never skips it) when the real Python peer
// is missing: the interoperability tests are the judge of this package.
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

// runPython runs testdata/script with args under a deadline and returns its
// combined output; a non-zero exit fails the test with the output shown.
func runPython(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	requirePython(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	path, err := filepath.Abs(filepath.Join("testdata", script))
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, pythonPath, append([]string{"-u", path}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %v:\n%s", script, timeout, out)
	}
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", script, err, out)
	}
	return string(out)
}

// serveTCP serves svc on 127.0.0.1:0, each accepted connection with
// conn.ServeNetConn on a goroutine of its own, until the test ends. It
// returns the address.
func serveTCP(t testing.TB, svc conn.Service, opts ...conn.Option) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[nc] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = conn.ServeNetConn(nc, svc, opts...)
				mu.Lock()
				delete(open, nc)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for nc := range open {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	_, err = strconv.Atoi(port)
	require.NoError(t, err)
	return port
}
