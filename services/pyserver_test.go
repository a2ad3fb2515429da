package services_test

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
	"github.com/rpycgo/rpycgo/services/pypeer"
)

// startPyServer runs testdata/py_server.py (a real rpyc ThreadedServer)
// and returns its address; the server ends with the test.
func startPyServer(t *testing.T) string {
	t.Helper()
	pypeer.Require(t)
	script, err := filepath.Abs(filepath.Join("testdata", "py_server.py"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, pypeer.Python, "-u", script)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &pypeer.SyncBuffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("py_server.py stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PORT ") {
				lines <- strings.TrimPrefix(sc.Text(), "PORT ")
			}
		}
	}()
	select {
	case port := <-lines:
		return net.JoinHostPort("127.0.0.1", port)
	case <-time.After(30 * time.Second):
		t.Fatalf("py_server.py did not print its port:\n%s", stderr.String())
	}
	return ""
}

func iterAll(t *testing.T, ctx context.Context, p *netref.Proxy) []any {
	t.Helper()
	var out []any
	for v, err := range p.Iter(ctx) {
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// TestGoClientPythonServer drives a real Python rpyc server from Go.
func TestGoClientPythonServer(t *testing.T) {
	addr := startPyServer(t)
	ctx := testCtx(t)
	c, err := conn.Dial(ctx, "tcp", addr, conn.WithService(services.New(helloService{})))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	root := rootOf(t, c)

	t.Run("args_kwargs", func(t *testing.T) {
		v, err := root.CallMethodKw(ctx, "greet", []any{"go"}, []netref.Kwarg{{Name: "greeting", Value: "hi"}})
		require.NoError(t, err)
		require.Equal(t, "hi go!", v)
		v, err = root.CallMethodKw(ctx, "add", []any{int64(1), int64(2), int64(3)},
			[]netref.Kwarg{{Name: "scale", Value: int64(2)}, {Name: "x", Value: int64(10)}})
		require.NoError(t, err)
		require.Equal(t, int64(22), v)
		v, err = root.CallMethodKw(ctx, "describe", []any{int64(1), "two"}, []netref.Kwarg{{Name: "b", Value: 2.5}, {Name: "a", Value: nil}})
		require.NoError(t, err)
		require.Equal(t, codec.Tuple{codec.Tuple{int64(1), "two"}, codec.Tuple{codec.Tuple{"a", nil}, codec.Tuple{"b", 2.5}}}, v)
		// GETATTR + CALL, as a Python client does.
		greet, err := root.GetAttr(ctx, "greet")
		require.NoError(t, err)
		v, err = greet.(*netref.Proxy).CallKw(ctx, []any{"py"}, []netref.Kwarg{{Name: "punct", Value: "?"}})
		require.NoError(t, err)
		require.Equal(t, "hello py?", v)
	})

	t.Run("list", func(t *testing.T) {
		l := call(t, root, "get_list").(*netref.Proxy)
		require.Equal(t, "builtins.list", l.ID().Name)
		n, err := l.Len(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		v, err := l.GetItem(ctx, int64(1))
		require.NoError(t, err)
		require.Equal(t, int64(2), v)
		_, err = l.GetItem(ctx, int64(10))
		pyErr(t, err, "IndexError")
		require.Equal(t, []any{int64(1), int64(2), int64(3)}, iterAll(t, ctx, l))
		call(t, l, "append", int64(4))
		in, err := l.Contains(ctx, int64(4))
		require.NoError(t, err)
		require.True(t, in)
		s, err := l.Str(ctx)
		require.NoError(t, err)
		require.Equal(t, "[1, 2, 3, 4]", s)

		// The same Python object read again after its proxy was closed.
		sh, err := root.GetAttr(ctx, "shared")
		require.NoError(t, err)
		require.NoError(t, sh.(*netref.Proxy).Close())
		sh2, err := root.GetAttr(ctx, "shared")
		require.NoError(t, err)
		require.Equal(t, []any{int64(10), int64(20), int64(30)}, iterAll(t, ctx, sh2.(*netref.Proxy)))
	})

	t.Run("dict", func(t *testing.T) {
		d := call(t, root, "get_dict").(*netref.Proxy)
		v, err := d.GetItem(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, int64(1), v)
		in, err := d.Contains(ctx, "b")
		require.NoError(t, err)
		require.True(t, in)
		require.Equal(t, []any{"a", "b"}, iterAll(t, ctx, d))
		keys := call(t, d, "keys").(*netref.Proxy)
		require.Equal(t, []any{"a", "b"}, iterAll(t, ctx, keys))
		_, err = d.GetItem(ctx, "z")
		pe := pyErr(t, err, "KeyError")
		require.Equal(t, codec.Tuple{"z"}, pe.Args)
		require.NoError(t, d.SetItem(ctx, "c", int64(3)))
		n, err := d.Len(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
	})

	t.Run("generator", func(t *testing.T) {
		g := call(t, root, "squares", int64(5)).(*netref.Proxy)
		require.Equal(t, []any{int64(0), int64(1), int64(4), int64(9), int64(16)}, iterAll(t, ctx, g))
		_, err := g.Next(ctx)
		require.ErrorIs(t, err, codec.ErrStopIteration)
	})

	t.Run("file", func(t *testing.T) {
		f := call(t, root, "open_file").(*netref.Proxy)
		entered, err := f.Enter(ctx)
		require.NoError(t, err)
		require.Same(t, f, entered)
		require.Equal(t, []byte("line one\n"), call(t, f, "readline"))
		require.Equal(t, []byte("line two\n"), call(t, f, "read"))
		require.Equal(t, []byte{}, call(t, f, "read"))
		suppress, err := f.Exit(ctx, nil)
		require.NoError(t, err)
		require.False(t, suppress)
		closed, err := f.GetAttr(ctx, "closed")
		require.NoError(t, err)
		require.Equal(t, true, closed)
	})

	t.Run("go_callback", func(t *testing.T) {
		require.Equal(t, int64(5), call(t, root, "call_back", func(a, b int64) int64 { return a + b }, int64(2), int64(3)))
		v, err := root.CallMethodKw(ctx, "call_back", []any{func(a int64, kw netref.Kwargs) int64 {
			b, _ := kw.Get("b")
			return a * b.(int64)
		}, int64(6)}, []netref.Kwarg{{Name: "b", Value: int64(7)}})
		require.NoError(t, err)
		require.Equal(t, int64(42), v)
		require.Equal(t, int64(18), call(t, root, "call_twice", func(x int64) int64 { return 3 * x }, int64(2)))
		// The callback calls the Python server again while it is called.
		require.Equal(t, "hi nested!", call(t, root, "call_back", func(ctx context.Context) (any, error) {
			return root.CallMethodKw(ctx, "greet", []any{"nested"}, []netref.Kwarg{{Name: "greeting", Value: "hi"}})
		}))
		// A Go error raises in Python and comes back as the same class.
		_, err = root.CallMethod(ctx, "call_back", func() error { return codec.NewPyError("KeyError", "gofail") })
		pe := pyErr(t, err, "KeyError")
		require.Equal(t, codec.Tuple{"gofail"}, pe.Args)
		// Python uses Go objects through its proxies.
		require.Equal(t, int64(3), call(t, root, "len_of", []int64{1, 2, 3}))
		require.Equal(t, int64(6), call(t, root, "sum_of", []int64{1, 2, 3}))
		require.Equal(t, int64(2), call(t, root, "len_of", map[string]int{"a": 1, "b": 2}))
		// The Python server calls the root the Go client exposes.
		require.Equal(t, "HELLO", call(t, root, "peer_name"))
	})

	t.Run("exceptions", func(t *testing.T) {
		_, err := root.CallMethod(ctx, "fail", "value")
		pe := pyErr(t, err, "ValueError")
		require.Equal(t, codec.Tuple{"bad value", int64(42)}, pe.Args)
		require.Contains(t, pe.Traceback, "Traceback (most recent call last)")
		require.Contains(t, pe.Traceback, "ValueError: ('bad value', 42)")
		require.Contains(t, pe.Traceback, "exposed_fail")
		require.Equal(t, "5.3.0", pe.RemoteVersion)

		_, err = root.CallMethod(ctx, "fail", "key")
		pe = pyErr(t, err, "KeyError")
		require.Equal(t, codec.Tuple{"missing"}, pe.Args)

		_, err = root.CallMethod(ctx, "fail", "custom")
		var ce *codec.PyError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "__main__", ce.Module)
		require.Equal(t, "MyError", ce.Class)
		require.Equal(t, codec.Tuple{"custom failure"}, ce.Args)

		_, err = root.CallMethod(ctx, "fail", "os")
		pe = pyErr(t, err, "FileNotFoundError")
		require.ErrorIs(t, err, fs.ErrNotExist)
		errno, ok := pe.Attr("errno")
		require.True(t, ok)
		require.Equal(t, int64(2), errno)

		_, err = root.CallMethod(ctx, "no_such_method")
		pyErr(t, err, "AttributeError")
		require.Equal(t, "still here", call(t, root, "echo", "still here"))
	})

	t.Run("async", func(t *testing.T) {
		r, err := root.CallMethodAsync("slow", 0.2)
		require.NoError(t, err)
		require.False(t, r.Ready())
		v, err := r.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, 0.2, v)
		require.True(t, r.Ready())

		echo, err := root.GetAttr(ctx, "echo")
		require.NoError(t, err)
		r, err = echo.(*netref.Proxy).CallAsync(int64(5))
		require.NoError(t, err)
		v, err = r.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(5), v)

		r, err = root.CallMethodAsync("fail", "key")
		require.NoError(t, err)
		_, err = r.Result(ctx)
		pyErr(t, err, "KeyError")
	})

	t.Run("timeout", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := root.CallMethod(tctx, "slow", 1.5)
		require.Less(t, time.Since(start), time.Second)
		var te *dispatch.TimeoutError
		require.ErrorAs(t, err, &te)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout())
		require.ErrorIs(t, err, dispatch.ErrTimeout)
		// The connection survives; the late reply is dropped.
		require.Equal(t, "alive", call(t, root, "echo", "alive"))
		time.Sleep(1500 * time.Millisecond)
		require.Equal(t, "alive", call(t, root, "echo", "alive"))
		require.NoError(t, c.Ping(ctx))
	})
}
