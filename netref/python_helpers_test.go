package netref_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
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

// startClassic starts rpyc_classic on 127.0.0.1 with an ephemeral port and
// returns the address; the server is killed when the test ends.
func startClassic(t testing.TB) string {
	t.Helper()
	requirePython(t)
	cmd := exec.Command(pythonPath, "/usr/bin/rpyc_classic", "--host", "127.0.0.1", "-p", "0")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := startedRe.FindStringSubmatch(sc.Text()); m != nil {
				portc <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case p := <-portc:
		return net.JoinHostPort("127.0.0.1", p)
	case <-time.After(20 * time.Second):
		t.Fatal("rpyc_classic did not report its port within 20s")
		return ""
	}
}

// runPython runs testdata/script with args under a deadline and returns its
// combined output; a non-zero exit fails the test.
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

// countingConn is a net.Conn that decodes the frames written to it and
// counts the requests by handler code.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	dec    *codec.FrameDecoder
	counts map[int]int
}

func newCountingConn(nc net.Conn) *countingConn {
	return &countingConn{Conn: nc, dec: codec.NewFrameDecoder(codec.DefaultFrameLimits()), counts: map[int]int{}}
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	_ = c.dec.Feed(p, func(payload []byte) error {
		var d codec.Decoder
		msg, _, args, err := d.DecodeMessage(payload, codec.FormatV5)
		if err != nil || msg != codec.MsgRequest {
			return nil
		}
		if t, ok := args.(codec.Tuple); ok && len(t) == 2 {
			if h, ok := codec.ToInt64(t[0]); ok {
				c.counts[int(h)]++
			}
		}
		return nil
	})
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// snapshot returns a copy of the counts and resets them.
func (c *countingConn) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[int]int{}
	return out
}

// dialCounting connects to addr through a countingConn.
func dialCounting(t testing.TB, addr string) (*conn.Conn, *countingConn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	cc := newCountingConn(nc)
	c, err := conn.NewNetConn(cc, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, cc
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	_, err = strconv.Atoi(port)
	require.NoError(t, err)
	return port
}
