package classic_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/pypeer"
)

func TestRedirectStdio(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)
	require.NoError(t, cl.Execute(ctx, "import sys\norig = (sys.stdout, sys.stderr)"))

	var out, errw pypeer.SyncBuffer
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

	var w pypeer.SyncBuffer
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
