package classic_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/classic"
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
		out, err := exec.Command(pythonPath, "-c", "import rpyc").CombinedOutput()
		if err != nil {
			pythonErr = errors.New(string(bytes.TrimSpace(out)) + ": " + err.Error())
		}
	})
	if pythonErr != nil {
		t.Fatalf("%s cannot import rpyc (%v): run `make deps` to install python3-rpyc", pythonPath, pythonErr)
	}
}

var startedRe = regexp.MustCompile(`server started on \[127\.0\.0\.1\]:(\d+)`)

// startClassic starts `rpyc_classic --host 127.0.0.1 -p 0` and returns its
// port; the server is killed when the test ends.
func startClassic(t testing.TB) int {
	t.Helper()
	requirePython(t)
	cmd := exec.Command(pythonPath, "/usr/bin/rpyc_classic", "--host", "127.0.0.1", "-p", "0")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := startedRe.FindStringSubmatch(sc.Text()); m != nil {
				p, _ := strconv.Atoi(m[1])
				portc <- p
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case p := <-portc:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("rpyc_classic did not report its port within 20s")
		return 0
	}
}

// startUnixClassic starts a SlaveService server on a unix socket and
// returns its path.
func startUnixClassic(t testing.TB) string {
	t.Helper()
	requirePython(t)
	dir, err := os.MkdirTemp("", "rpyc") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "classic.sock")
	script, err := filepath.Abs(filepath.Join("testdata", "unix_classic.py"))
	require.NoError(t, err)
	cmd := exec.Command(pythonPath, "-u", script, sock)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("unix classic server not ready within 20s")
	}
	return sock
}

// testCtx is a context bounded for one test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a classic client to a fresh rpyc_classic.
func dial(t testing.TB) *classic.Client {
	t.Helper()
	port := startClassic(t)
	cl, err := classic.Connect(testCtx(t), "127.0.0.1", port)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}
