package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

// envRunMain makes the test binary run the command's main with the
// arguments after "--".
const envRunMain = "RPYC_SERVER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"rpyc-server"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", o.host)
	require.Equal(t, 18861, o.port)
	require.Equal(t, "reactor", o.mode)
	require.Equal(t, "conformance", o.service)

	o, err = parseFlags([]string{"-p", "1234", "-m", "threaded", "-q", "--engine", "netpoll", "--workers", "7",
		"--ipv6", "--register", "--registry-type", "tcp", "--registry-host", "h", "--registry-port", "99"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1234, o.port)
	require.Equal(t, "threaded", o.mode)
	require.True(t, o.quiet)
	require.True(t, o.ipv6)
	require.Equal(t, "netpoll", o.engine)
	require.Equal(t, 7, o.workers)
	require.True(t, o.register)
	require.Equal(t, "TCP", o.registryType)
	require.Equal(t, "h", o.registryHost)
	require.Equal(t, 99, o.registryPort)

	o, err = parseFlags([]string{"--port=5", "--mode=process", "--socket-path", "/tmp/x", "--logfile", "l",
		"--ssl-keyfile", "k", "--ssl-certfile", "c", "--ssl-cafile", "ca", "--host", "0.0.0.0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 5, o.port)
	require.Equal(t, "/tmp/x", o.socketPath)
	require.Equal(t, "k", o.keyfile)

	for _, bad := range [][]string{
		{"--ssl-keyfile", "k"}, {"--ssl-cafile", "ca"}, {"--registry-type", "SCTP"}, {"extra"}, {"--nope"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.Error(t, err, "%v", bad)
	}
	require.Error(t, run([]string{"-m", "bogus", "-p", "0"}, io.Discard, io.Discard))
	require.Error(t, run([]string{"--service", "bogus", "-p", "0"}, io.Discard, io.Discard))
}

// command is the command running in a child process.
type command struct {
	cmd  *exec.Cmd
	port int
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func (c *command) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

type lockedWriter struct{ c *command }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.log.Write(p)
}

// startCommand runs rpyc-server with args (and -p 0) and waits for its port.
func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	c := &command{done: make(chan struct{})}
	c.cmd = exec.Command(exe, append([]string{"-test.run=^$", "--", "-p", "0"}, args...)...)
	c.cmd.Env = append(os.Environ(), envRunMain+"=1")
	c.cmd.Stderr = lockedWriter{c}
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	select {
	case l, ok := <-lines:
		require.True(t, ok, "no port printed:\n%s", c.logText())
		c.port, err = strconv.Atoi(strings.TrimSpace(l))
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("rpyc-server did not start:\n%s", c.logText())
	}
	return c
}

func (c *command) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
		require.NoError(t, c.err, c.logText())
	case <-time.After(15 * time.Second):
		t.Fatalf("rpyc-server did not exit:\n%s", c.logText())
	}
}

func (c *command) dial(t *testing.T) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := conn.Dial(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(c.port))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func callRoot(t *testing.T, c *conn.Conn, method string, args ...any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Call(ctx, method, args...)
	require.NoError(t, err)
	return v
}

// TestSignalClosesCleanly serves in every mode, then SIGTERM (or SIGINT)
// ends the process with status 0 and rpyc's log lines.
func TestSignalClosesCleanly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		sig  syscall.Signal
	}{
		{nil, syscall.SIGTERM},
		{[]string{"-m", "threaded", "--engine", "netpoll"}, syscall.SIGINT},
		{[]string{"-m", "threadpool", "--engine", "stdnet", "--workers", "2"}, syscall.SIGTERM},
		{[]string{"-m", "process", "--workers", "2"}, syscall.SIGTERM},
	} {
		t.Run(strings.Join(append([]string{"default"}, tc.args...), " "), func(t *testing.T) {
			c := startCommand(t, tc.args...)
			cl := c.dial(t)
			require.Equal(t, "hi", callRoot(t, cl, "echo", "hi"))
			pid := callRoot(t, cl, "pid").(int64)
			if len(tc.args) > 1 && tc.args[1] == "process" {
				require.NotEqual(t, int64(c.cmd.Process.Pid), pid)
			} else {
				require.Equal(t, int64(c.cmd.Process.Pid), pid)
			}
			require.NoError(t, cl.Close())
			require.NoError(t, c.cmd.Process.Signal(tc.sig))
			c.wait(t)
			log := c.logText()
			require.Contains(t, log, "server started on [127.0.0.1]:"+strconv.Itoa(c.port))
			require.Contains(t, log, "accepted 127.0.0.1:")
			require.Contains(t, log, "server has terminated")
			if len(tc.args) == 0 || tc.args[1] != "process" {
				require.Contains(t, log, "welcome 127.0.0.1:")
				require.Contains(t, log, "goodbye 127.0.0.1:")
			}
		})
	}
}

// TestOneShotExits serves one connection and exits when it closes.
func TestOneShotExits(t *testing.T) {
	c := startCommand(t, "-m", "oneshot", "--engine", "gnet")
	cl := c.dial(t)
	require.Equal(t, int64(3), callRoot(t, cl, "add", int64(1), int64(2)))
	require.NoError(t, cl.Close())
	c.wait(t)
	require.Contains(t, c.logText(), "goodbye")
}

// TestRegisterWithoutRegistry keeps serving when no registry answers.
func TestRegisterWithoutRegistry(t *testing.T) {
	c := startCommand(t, "--register", "--registry-type", "TCP", "--registry-host", "127.0.0.1", "--registry-port", "1")
	cl := c.dial(t)
	require.Equal(t, "x", callRoot(t, cl, "echo", "x"))
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	c.wait(t)
}
