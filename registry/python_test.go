package registry_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/pypeer"
)

// pyProc is a Python script run for a test: its stdin is a pipe, its
// stdout lines arrive on lines, its stderr is kept for failure messages.
type pyProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *pypeer.SyncBuffer
	exited chan struct{} // closed when the process has ended
}

// startPy runs testdata/script with args; the process is killed at the
// test's end.
func startPy(t *testing.T, script string, args ...string) *pyProc {
	t.Helper()
	pypeer.Require(t)
	cmd := exec.Command(pypeer.Python, append([]string{"-u", filepath.Join("testdata", script)}, args...)...)
	return startProc(t, cmd)
}

func startProc(t *testing.T, cmd *exec.Cmd) *pyProc {
	t.Helper()
	p := &pyProc{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &pypeer.SyncBuffer{}, exited: make(chan struct{})}
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", strings.Join(cmd.Args, " "), p.stderr.String())
		}
	})
	return p
}

// line returns the next stdout line, failing after d.
func (p *pyProc) line(d time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		require.True(p.t, ok, "process ended; stderr:\n%s", p.stderr.String())
		return l
	case <-time.After(d):
		require.FailNow(p.t, "no output in time", "stderr:\n%s", p.stderr.String())
	}
	return ""
}

// port reads the "PORT <n>" line.
func (p *pyProc) port() int {
	p.t.Helper()
	l := p.line(15 * time.Second)
	f := strings.Fields(l)
	require.Len(p.t, f, 2, "want PORT <n>, got %q", l)
	require.Equal(p.t, "PORT", f[0])
	n, err := strconv.Atoi(f[1])
	require.NoError(p.t, err)
	return n
}

// closeStdin asks a py_server.py to close its server and waits for CLOSED.
func (p *pyProc) closeStdin() {
	p.t.Helper()
	require.NoError(p.t, p.stdin.Close())
	require.Equal(p.t, "CLOSED", p.line(10*time.Second))
}

// kill kills the process at once (no unregister) and waits for it.
func (p *pyProc) kill() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		require.FailNow(p.t, "killed process did not end")
	}
}

// pyClient is a py_client.py session.
type pyClient struct{ *pyProc }

// startPyClient starts real Python registry clients for the registry on
// 127.0.0.1:port over mode ("udp" or "tcp").
func startPyClient(t *testing.T, mode string, port int, extra ...string) pyClient {
	t.Helper()
	p := startPy(t, "py_client.py", append([]string{mode, strconv.Itoa(port)}, extra...)...)
	require.Equal(t, "READY", p.line(15*time.Second))
	return pyClient{p}
}

// pyResult is one answer of py_client.py.
type pyResult struct {
	OK    json.RawMessage `json:"ok"`
	Error string          `json:"error"`
	Msg   string          `json:"msg"`
}

// do runs one operation and returns its answer.
func (c pyClient) do(op string, arg any) pyResult {
	c.t.Helper()
	req, err := json.Marshal([]any{op, arg})
	require.NoError(c.t, err)
	_, err = c.stdin.Write(append(req, '\n'))
	require.NoError(c.t, err)
	var r pyResult
	require.NoError(c.t, json.Unmarshal([]byte(c.line(15*time.Second)), &r))
	return r
}

// endpoints runs a discover-like op and returns [[host, port], ...].
func (c pyClient) endpoints(op, name string) [][2]any {
	c.t.Helper()
	r := c.do(op, name)
	require.Empty(c.t, r.Error, "%s %q: %s %s", op, name, r.Error, r.Msg)
	var out [][2]any
	require.NoError(c.t, json.Unmarshal(r.OK, &out))
	for i := range out {
		out[i][1] = int(out[i][1].(float64))
	}
	return out
}

// names runs list_services and returns the names.
func (c pyClient) names(filter any) []string {
	c.t.Helper()
	r := c.do("list", filter)
	require.Empty(c.t, r.Error, "list %v: %s %s", filter, r.Error, r.Msg)
	var out []string
	require.NoError(c.t, json.Unmarshal(r.OK, &out))
	return out
}
