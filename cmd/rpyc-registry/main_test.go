package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/pypeer"
)

const pythonPath = "/usr/bin/python3"

const scripts = "../../registry/testdata"

func TestParseArgs(t *testing.T) {
	o, err := parseArgs(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, options{mode: "UDP", port: 18811, timeout: 240}, o)

	o, err = parseArgs([]string{"-m", "tcp", "-p", "5000", "-t", "7", "-l", "-6", "-q", "-f", "x.log", "--host", "::1"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, options{mode: "TCP", port: 5000, host: "::1", logfile: "x.log", quiet: true, timeout: 7, listing: true, ipv6: true}, o)

	o, err = parseArgs([]string{"--mode=UDP", "--port", "1", "--timeout", "9", "--listing", "--ipv6", "--quiet", "--logfile", "y"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, options{mode: "UDP", port: 1, logfile: "y", quiet: true, timeout: 9, listing: true, ipv6: true}, o)

	// rpyc_registry's "-l VALUE:bool" form.
	o, err = parseArgs([]string{"-l", "true", "-p", "2"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.listing)
	require.Equal(t, 2, o.port)
	o, err = parseArgs([]string{"--listing", "false"}, io.Discard)
	require.NoError(t, err)
	require.False(t, o.listing)
	o, err = parseArgs([]string{"-q", "yes", "-l", "yes"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.quiet)
	require.True(t, o.listing)

	for _, bad := range [][]string{{"-m", "SCTP"}, {"-p", "70000"}, {"stray"}, {"-p", "1", "true"}, {"-l", "maybe"}} {
		_, err := parseArgs(bad, io.Discard)
		require.Error(t, err, "%v", bad)
	}
}

// proc runs a command whose stdout lines arrive on a channel.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *pypeer.SyncBuffer
	done   chan struct{} // closed when the process has ended
	err    error         // its exit status, once done
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), lines: make(chan string, 16), stderr: &pypeer.SyncBuffer{}, done: make(chan struct{})}
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", strings.Join(p.cmd.Args, " "), p.stderr.String())
		}
	})
	return p
}

func (p *proc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		require.True(t, ok, "process ended: %s", p.stderr.String())
		return l
	case <-time.After(15 * time.Second):
		require.FailNow(t, "no output in time", p.stderr.String())
	}
	return ""
}

// TestCommandWithPython builds rpyc-registry, runs it in both modes and
// has real Python rpyc servers register with it and Python clients
// discover and list through it; SIGTERM ends it cleanly.
func TestCommandWithPython(t *testing.T) {
	out, err := exec.Command(pythonPath, "-c", "import rpyc").CombinedOutput()
	require.NoError(t, err, "%s cannot import rpyc (%s): run `make deps`", pythonPath, out)
	bin := filepath.Join(t.TempDir(), "rpyc-registry")
	out, err = exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, tc := range []struct {
		mode    string
		args    []string
		listing bool
	}{
		{"udp", []string{"-m", "UDP", "-p", "0", "--host", "127.0.0.1", "-l", "-t", "30"}, true},
		{"tcp", []string{"--mode", "TCP", "--port", "0", "--host", "127.0.0.1", "--timeout", "240"}, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			reg := start(t, bin, tc.args...)
			port, err := strconv.Atoi(reg.line(t))
			require.NoError(t, err)
			srv := start(t, pythonPath, "-u", filepath.Join(scripts, "py_server.py"), tc.mode, strconv.Itoa(port), "CmdSvc")
			f := strings.Fields(srv.line(t))
			require.Len(t, f, 2)
			sport, err := strconv.Atoi(f[1])
			require.NoError(t, err)

			cli := start(t, pythonPath, "-u", filepath.Join(scripts, "py_client.py"), tc.mode, strconv.Itoa(port))
			require.Equal(t, "READY", cli.line(t))
			ask := func(op string, arg any) map[string]any {
				req, _ := json.Marshal([]any{op, arg})
				_, err := cli.stdin.Write(append(req, '\n'))
				require.NoError(t, err)
				var r map[string]any
				require.NoError(t, json.Unmarshal([]byte(cli.line(t)), &r))
				return r
			}
			var r map[string]any
			require.Eventually(t, func() bool {
				r = ask("discover", "cmdsvc")
				return r["error"] == nil
			}, 10*time.Second, 100*time.Millisecond)
			require.Equal(t, []any{[]any{"127.0.0.1", float64(sport)}}, r["ok"])
			r = ask("list", nil)
			if tc.listing {
				require.Equal(t, []any{"CMDSVC"}, r["ok"])
			} else {
				require.Equal(t, "ForbiddenError", r["error"])
			}
			r = ask("connect", "CMDSVC")
			require.Equal(t, "pong", r["ok"])

			require.NoError(t, reg.cmd.Process.Signal(syscall.SIGTERM))
			select {
			case <-reg.done:
				require.NoError(t, reg.err, "exit status")
			case <-time.After(5 * time.Second):
				require.FailNow(t, "rpyc-registry did not exit on SIGTERM")
			}
			logs := reg.stderr.String()
			name := "REGSRV/" + strings.ToUpper(tc.mode) + "/" + strconv.Itoa(port) + ":"
			require.Contains(t, logs, name+" server started on 127.0.0.1:"+strconv.Itoa(port))
			require.Contains(t, logs, name+" registering 127.0.0.1:"+strconv.Itoa(sport)+" as CMDSVC")
			require.Contains(t, logs, "querying for 'CMDSVC'")
			require.Contains(t, logs, "server closed")
		})
	}
}
