package classic_test

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services/classic"
)

func TestModules(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)

	osm, err := cl.Module(ctx, "os")
	require.NoError(t, err)
	require.Equal(t, "os", osm.ID().Name)
	cwd, err := osm.CallMethod(ctx, "getcwd")
	require.NoError(t, err)
	require.IsType(t, "", cwd)
	require.True(t, filepath.IsAbs(cwd.(string)))

	pathm, err := cl.Module(ctx, "os.path")
	require.NoError(t, err)
	joined, err := pathm.CallMethod(ctx, "join", "a", "b", "c.txt")
	require.NoError(t, err)
	require.Equal(t, "a/b/c.txt", joined)

	minidom, err := cl.Module(ctx, "xml.dom.minidom")
	require.NoError(t, err)
	doc, err := minidom.CallMethod(ctx, "parseString", "<root><item>hi</item></root>")
	require.NoError(t, err)
	docp, ok := doc.(*netref.Proxy)
	require.True(t, ok)
	xml, err := docp.CallMethod(ctx, "toxml")
	require.NoError(t, err)
	require.Contains(t, xml, "<item>hi</item>")

	b, err := cl.Builtins(ctx)
	require.NoError(t, err)
	n, err := b.CallMethod(ctx, "len", "hello")
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	b2, err := cl.Builtins(ctx)
	require.NoError(t, err)
	require.Same(t, b, b2)

	_, err = cl.Module(ctx, "no_such_module_rpycgo")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ModuleNotFoundError", pe.Class)
}

func TestEvalExecuteNamespace(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)

	v, err := cl.Eval(ctx, "6*7")
	require.NoError(t, err)
	require.EqualValues(t, 42, v)

	v, err = cl.Eval(ctx, "2**100")
	require.NoError(t, err)
	want, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	require.Equal(t, 0, want.Cmp(v.(*big.Int)))

	v, err = cl.Eval(ctx, "('a', b'\\x00\\xff', 1.5, None, True)")
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{"a", []byte{0, 0xff}, 1.5, nil, true}, v)

	require.NoError(t, cl.Execute(ctx, "y = 5\ndef sq(x):\n    return x * x\n"))
	v, err = cl.Eval(ctx, "sq(y)")
	require.NoError(t, err)
	require.EqualValues(t, 25, v)

	ns, err := cl.Namespace(ctx)
	require.NoError(t, err)
	require.Equal(t, "builtins.dict", ns.ID().Name)
	y, err := ns.GetItem(ctx, "y")
	require.NoError(t, err)
	require.EqualValues(t, 5, y)
	require.NoError(t, ns.SetItem(ctx, "z", "from go"))
	v, err = cl.Eval(ctx, "z.upper()")
	require.NoError(t, err)
	require.Equal(t, "FROM GO", v)
	has, err := ns.Contains(ctx, "sq")
	require.NoError(t, err)
	require.True(t, has)

	// A list comes back by reference and works with the netref API.
	v, err = cl.Eval(ctx, "[1, 2, 3]")
	require.NoError(t, err)
	lst := v.(*netref.Proxy)
	n, err := lst.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	s, err := lst.Repr(ctx)
	require.NoError(t, err)
	require.Equal(t, "[1, 2, 3]", s)
}

func TestRemoteExceptions(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)

	_, err := cl.Eval(ctx, "1/0")
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ZeroDivisionError", pe.Class)
	require.Contains(t, pe.Message(), "division by zero")
	require.Contains(t, pe.Traceback, "Traceback")
	require.Contains(t, pe.Traceback, "ZeroDivisionError")

	err = cl.Execute(ctx, "raise KeyError('missing')")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "KeyError", pe.Class)
	require.Equal(t, codec.Tuple{"missing"}, pe.Args)

	err = cl.Execute(ctx, "def (")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SyntaxError", pe.Class)

	osm, err := cl.Module(ctx, "os")
	require.NoError(t, err)
	_, err = osm.CallMethod(ctx, "listdir", "/no/such/dir/rpycgo")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "FileNotFoundError", pe.Class)
}

func TestUnixSocket(t *testing.T) {
	sock := startUnixClassic(t)
	ctx := testCtx(t)
	cl, err := classic.ConnectUnix(ctx, sock)
	require.NoError(t, err)
	defer cl.Close()
	v, err := cl.Eval(ctx, "sum(range(10))")
	require.NoError(t, err)
	require.EqualValues(t, 45, v)
	osm, err := cl.Module(ctx, "os")
	require.NoError(t, err)
	pid, err := osm.CallMethod(ctx, "getpid")
	require.NoError(t, err)
	require.NotEqualValues(t, os.Getpid(), pid)
}

func TestConnectRefused(t *testing.T) {
	ctx := testCtx(t)
	// Port 1 on loopback is closed in the test environment.
	_, err := classic.Connect(ctx, "127.0.0.1", 1)
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded))
}
