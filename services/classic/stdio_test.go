package classic_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent remote writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRedirectStdio(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)
	require.NoError(t, cl.Execute(ctx, "import sys\norig = (sys.stdout, sys.stderr)"))

	var out, errw lockedBuffer
	restore, err := cl.RedirectStdio(ctx, &out, &errw)
	require.NoError(t, err)
	require.NoError(t, cl.Execute(ctx, "print('hello from python', 42)\nprint('oops', file=sys.stderr)\nsys.stdout.flush()"))
	require.NoError(t, restore())
	require.NoError(t, restore(), "restore is idempotent")
	require.Equal(t, "hello from python 42\n", out.String())
	require.Equal(t, "oops\n", errw.String())

	same, err := cl.Eval(ctx, "(sys.stdout, sys.stderr) == orig")
	require.NoError(t, err)
	require.Equal(t, true, same)
	require.NoError(t, cl.Execute(ctx, "print('after restore')"))
	require.Equal(t, "hello from python 42\n", out.String())
}

func TestWithRedirectedStdio(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)
	require.NoError(t, cl.Execute(ctx, "import sys\norig = (sys.stdout, sys.stderr)"))

	var w lockedBuffer
	require.NoError(t, cl.WithRedirectedStdio(ctx, &w, func() error {
		return cl.Execute(ctx, "for i in range(3):\n    print(i)\nsys.stderr.write('e\\n')")
	}))
	require.Equal(t, "0\n1\n2\ne\n", w.String())

	boom := errors.New("boom")
	err := cl.WithRedirectedStdio(ctx, &w, func() error {
		if err := cl.Execute(ctx, "print('before failure')"); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Contains(t, w.String(), "before failure\n")

	same, err := cl.Eval(ctx, "(sys.stdout, sys.stderr) == orig")
	require.NoError(t, err)
	require.Equal(t, true, same, "streams restored after fn failed")

	// A remote exception inside the scope is returned and still restores.
	err = cl.WithRedirectedStdio(ctx, &w, func() error { return cl.Execute(ctx, "raise ValueError('x')") })
	require.Error(t, err)
	same, err = cl.Eval(ctx, "(sys.stdout, sys.stderr) == orig")
	require.NoError(t, err)
	require.Equal(t, true, same)
}
