package classic_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/classic"
)

// startUnixClassic starts a SlaveService server on a unix socket and
// returns its path.
func startUnixClassic(t testing.TB) string {
	t.Helper()
	pypeer.Require(t)
	dir, err := os.MkdirTemp("", "rpyc") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "classic.sock")
	script, err := filepath.Abs(filepath.Join("testdata", "unix_classic.py"))
	require.NoError(t, err)
	cmd := exec.Command(pypeer.Python, "-u", script, sock)
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
	port := pypeer.StartClassic(t)
	cl, err := classic.Connect(testCtx(t), "127.0.0.1", port)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}
