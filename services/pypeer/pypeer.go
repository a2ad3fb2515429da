// Package pypeer runs the real Python peer — Debian's python3-rpyc 5.3.0 —
// for rpycgo's tests and tools. It always names /usr/bin/python3: the
// python3 first on PATH may be another interpreter without rpyc.
//
// Tests that need the peer fail (never skip) when it is missing, with a
// message telling to run `make deps`.
package pypeer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Python is the interpreter that has the real peer.
const Python = "/usr/bin/python3"

var (
	checkOnce sync.Once
	checkErr  error
)

// Check reports whether Python can import rpyc (once per process).
func Check() error {
	checkOnce.Do(func() {
		out, err := exec.Command(Python, "-c", "import rpyc").CombinedOutput()
		if err != nil {
			checkErr = fmt.Errorf("%s cannot import rpyc (%v: %s): run `make deps` to install python3-rpyc",
				Python, err, bytes.TrimSpace(out))
		}
	})
	return checkErr
}

// Require fails the test when the real peer is missing.
func Require(t testing.TB) {
	t.Helper()
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}

// Command returns a command running testdata/script (relative to the test's
// package directory) with args, unbuffered and without writing bytecode.
func Command(ctx context.Context, t testing.TB, script string, args ...string) *exec.Cmd {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, Python, append([]string{"-u", path}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// RunErr runs testdata/script with args under a deadline and returns its
// combined output and exit error; a timeout fails the test.
func RunErr(t testing.TB, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := Command(ctx, t, script, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %v:\n%s", script, timeout, out)
	}
	return string(out), err
}

// Run is RunErr where a non-zero exit fails the test, output shown.
func Run(t testing.TB, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	out, err := RunErr(t, timeout, script, args...)
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", script, err, out)
	}
	return out
}

var startedRe = regexp.MustCompile(`server started on \[127\.0\.0\.1\]:(\d+)`)

// StartClassic starts `rpyc_classic --host 127.0.0.1 -p 0` (plus args, such
// as the --ssl-* flags) in a temporary directory and returns its port; the
// server is killed when the test ends.
func StartClassic(t testing.TB, args ...string) int {
	t.Helper()
	Require(t)
	cmd := exec.Command(Python, append([]string{"/usr/bin/rpyc_classic", "--host", "127.0.0.1", "-p", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a
// process's output or a logger's lines, read by the test meanwhile.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
