package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/registry"
	"github.com/rpycgo/rpycgo/services"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// rpycBin builds the command once per test binary and returns its path.
func rpycBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "rpyc-cli")
		if binErr != nil {
			return
		}
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		binPath = filepath.Join(binDir, "rpyc")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, gobin, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

// rpyc runs the built command with a bound.
func rpyc(t *testing.T, args ...string) result {
	t.Helper()
	bin := rpycBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "rpyc %v did not finish", args)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, out.String(), errb.String()}
}

// serveConformance serves rpycgo's CONFORMANCE service on 127.0.0.1:0.
func serveConformance(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[nc] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = conn.ServeNetConn(nc, services.Conformance())
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

func TestCLIUsage(t *testing.T) {
	r := rpyc(t)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "usage: rpyc COMMAND")
	r = rpyc(t, "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "discover")
	r = rpyc(t, "frobnicate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)
	r = rpyc(t, "call", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "--json")
	r = rpyc(t, "call", "127.0.0.1:1")
	require.Equal(t, exitUsage, r.code)
	r = rpyc(t, "call", "127.0.0.1:1", "echo", "notaliteral")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "strings need quotes")
	r = rpyc(t, "call", "--bogus", "127.0.0.1:1", "echo")
	require.Equal(t, exitUsage, r.code)
	r = rpyc(t, "classic", "127.0.0.1:1")
	require.Equal(t, exitUsage, r.code, r.stderr)
}

func TestCLICallConformance(t *testing.T) {
	addr := serveConformance(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"echo", "42"}, "42"},
		{[]string{"echo", "-5"}, "-5"},
		{[]string{"echo", "-2.5"}, "-2.5"},
		{[]string{"echo", "123456789012345678901234567890"}, "123456789012345678901234567890"},
		{[]string{"echo", `"it's"`}, `"it's"`},
		{[]string{"echo", `b'\x00\xff'`}, `b'\x00\xff'`},
		{[]string{"echo", "None"}, "None"},
		{[]string{"echo", "(1, -2, ('a', True), b'')"}, "(1, -2, ('a', True), b'')"},
		{[]string{"add", "-3", "10"}, "7"},
		{[]string{"add", "2**64"}, ""}, // usage error, checked below
		{[]string{"add", "'ab'", "'cd'"}, "'abcd'"},
		{[]string{"divide", "1", "4"}, "0.25"},
	}
	for _, tc := range tests {
		r := rpyc(t, append([]string{"call", addr}, tc.args...)...)
		if tc.want == "" {
			require.Equal(t, exitUsage, r.code)
			continue
		}
		require.Equal(t, 0, r.code, "%v: %s", tc.args, r.stderr)
		require.Equal(t, tc.want+"\n", r.stdout, "%v", tc.args)
	}

	r := rpyc(t, "call", "--json", addr, "echo", "(1, 'a', b'\\x00', None, 1.5, 123456789012345678901234567890)")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, `[1,"a","AA==",null,1.5,123456789012345678901234567890]`+"\n", r.stdout)

	// Flags after the positional arguments work too.
	r = rpyc(t, "call", addr, "echo", "'x'", "-j")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "\"x\"\n", r.stdout)

	r = rpyc(t, "call", addr, "raise_error", "'ValueError'", "'bad value'")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "remote exception: ValueError: bad value")

	r = rpyc(t, "call", addr, "no_such_method")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "AttributeError")

	r = rpyc(t, "ping", addr)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "pong from "+addr)

	// A call that outlasts --timeout: exit 3.
	r = rpyc(t, "call", "--timeout", "300ms", addr, "sleep", "5")
	require.Equal(t, exitTimeout, r.code, r.stderr)
	require.Contains(t, r.stderr, "timed out")
}

func TestCLIConnectErrors(t *testing.T) {
	// A port nobody listens on: refused, exit 2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"ping", addr},
		{"call", addr, "echo", "1"},
		{"classic", addr, "-e", "1"},
		{"upload", addr, "/etc/hostname", "/tmp/x"},
		{"ping", filepath.Join(t.TempDir(), "nosock")},
	} {
		r := rpyc(t, args...)
		require.Equal(t, exitConnect, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, "cannot connect")
	}

	// A server that accepts and never answers: exit 3.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			nc, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, nc); nc.Close() }()
		}
	}()
	r := rpyc(t, "ping", "-t", "300ms", silent.Addr().String())
	require.Equal(t, exitTimeout, r.code, r.stderr)
}

func TestCLIClassic(t *testing.T) {
	addr := startClassic(t)
	r := rpyc(t, "classic", addr, "--eval", "2**100")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "1267650600228229401496703205376\n", r.stdout)

	r = rpyc(t, "classic", addr, "-e", "(1, 'a', b'\\x01', None, [1, 2])")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "(1, 'a', b'\\x01', None, [1, 2])\n", r.stdout)

	r = rpyc(t, "classic", addr, "-e", "{'k': 1}", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, `"{'k': 1}"`+"\n", r.stdout)

	r = rpyc(t, "classic", addr, "--exec", "import sys\nprint('hello', 6*7)\nprint('warn', file=sys.stderr)")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "hello 42\n", r.stdout)
	require.Equal(t, "warn\n", r.stderr)

	r = rpyc(t, "classic", addr, "-e", "1/0")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "remote exception: ZeroDivisionError: division by zero")
	require.Contains(t, r.stderr, "--traceback")
	require.NotContains(t, r.stderr, "Traceback (most recent call last)")

	r = rpyc(t, "classic", addr, "-e", "1/0", "--traceback")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "Traceback (most recent call last)")
	require.Contains(t, r.stderr, `File "<string>", line 1`)

	r = rpyc(t, "classic", addr, "-e", "1", "-c", "x=1")
	require.Equal(t, exitUsage, r.code)

	// A classic server answers ping too.
	r = rpyc(t, "ping", addr)
	require.Equal(t, 0, r.code, r.stderr)
}

func TestCLIUploadDownload(t *testing.T) {
	addr := startClassic(t)
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	_, err := rand.Read(data)
	require.NoError(t, err)
	src := filepath.Join(dir, "src.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))

	remote := filepath.Join(dir, "remote", "copy.bin")
	r := rpyc(t, "upload", addr, src, remote)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(remote)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
	require.Contains(t, r.stderr, "100%", "progress bar drawn")

	back := filepath.Join(dir, "back.bin")
	r = rpyc(t, "download", "-q", addr, back, remote)
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	got, err = os.ReadFile(back)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))

	// A directory tree.
	tree := filepath.Join(dir, "tree")
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "a", "b", "f.txt"), []byte("deep"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "empty"), nil, 0o644))
	r = rpyc(t, "upload", "-q", addr, tree, filepath.Join(dir, "tree2"))
	require.Equal(t, 0, r.code, r.stderr)
	got, err = os.ReadFile(filepath.Join(dir, "tree2", "a", "b", "f.txt"))
	require.NoError(t, err)
	require.Equal(t, "deep", string(got))
	st, err := os.Stat(filepath.Join(dir, "tree2", "empty"))
	require.NoError(t, err)
	require.Zero(t, st.Size())

	r = rpyc(t, "download", addr, filepath.Join(dir, "x"), filepath.Join(dir, "nope"))
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "FileNotFoundError")
}

func TestCLIRegistry(t *testing.T) {
	srv := registry.NewUDPServer(registry.WithHost("127.0.0.1"), registry.WithPort(0), registry.WithListing(true))
	require.NoError(t, srv.Start())
	defer srv.Close()
	port := srv.Addr().(*net.UDPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := registry.NewUDPClient(registry.WithHost("127.0.0.1"), registry.WithPort(port), registry.WithTimeout(2*time.Second))
	ok, err := rc.Register(ctx, []string{"DEMO", "ALIAS"}, 18861, "127.0.0.1")
	require.NoError(t, err)
	require.True(t, ok)

	ps := strconv.Itoa(port)
	r := rpyc(t, "discover", "-r", "127.0.0.1", "-P", ps, "demo")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "127.0.0.1:18861\n", r.stdout)

	r = rpyc(t, "discover", "--registry", "127.0.0.1", "--registry-port", ps, "--json", "DEMO")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, `[{"host":"127.0.0.1","port":18861}]`+"\n", r.stdout)

	r = rpyc(t, "discover", "-r", "127.0.0.1", "-P", ps, "-t", "2s", "nothing")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "no servers found")

	r = rpyc(t, "list", "-r", "127.0.0.1", "-P", ps)
	require.Equal(t, 0, r.code, r.stderr)
	names := strings.Fields(r.stdout)
	require.ElementsMatch(t, []string{"DEMO", "ALIAS"}, names)

	r = rpyc(t, "list", "--tcp")
	require.Equal(t, exitUsage, r.code)
}

// startClassic starts rpyc_classic on 127.0.0.1 and returns host:port.
func startClassic(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(pypeer.StartClassic(t)))
}
