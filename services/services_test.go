package services_test

import (
	"errors"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

type DemoService struct{}
type Myservice struct{}
type Foo struct{}
type Generic[T any] struct{}

func TestDefaultName(t *testing.T) {
	for _, tc := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[DemoService](), "DEMO"},
		{reflect.TypeFor[*DemoService](), "DEMO"},
		{reflect.TypeFor[Myservice](), "MY"},
		{reflect.TypeFor[Foo](), "FOO"},
		{reflect.TypeFor[services.VoidService](), "VOID"},
		{reflect.TypeFor[services.ConformanceService](), "CONFORMANCE"},
		{reflect.TypeFor[Generic[int]](), "GENERIC"},
		{reflect.TypeFor[struct{}](), ""},
		{nil, ""},
	} {
		require.Equal(t, tc.want, services.DefaultName(tc.t), "%v", tc.t)
	}
}

func TestNamesAndAliases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		svc     *services.Service
		want    string
		aliases []string
	}{
		{"derived", services.New(DemoService{}), "DEMO", []string{"DEMO"}},
		{"pointer", services.New(&DemoService{}), "DEMO", []string{"DEMO"}},
		{"aliases", services.New(Foo{}, services.WithAliases("bar", "baz-1")), "BAR", []string{"BAR", "BAZ-1"}},
		{"name", services.New(Foo{}, services.WithName("calc")), "CALC", []string{"CALC"}},
		{"name and aliases", services.New(Foo{}, services.WithName("b"), services.WithAliases("a", "b")), "B", []string{"B", "A"}},
		{"void", services.Void, "VOID", []string{"VOID"}},
		{"conformance", services.Conformance(), "CONFORMANCE", []string{"CONFORMANCE", "CONF"}},
		{"per conn", services.PerConn(func(*conn.Conn) (*DemoService, error) { return &DemoService{}, nil }), "DEMO", []string{"DEMO"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.svc.Name())
			require.Equal(t, tc.aliases, tc.svc.Aliases())
		})
	}
}

// A factory typed with an interface result is named after the first value
// it builds.
func TestPerConnInterfaceName(t *testing.T) {
	svc := services.PerConn(func(*conn.Conn) (any, error) { return &DemoService{}, nil })
	require.Equal(t, "", svc.Name(), "unknown before the first connection")
	c := dialPipe(t, svc)
	require.Equal(t, "DEMO", call(t, rootOf(t, c), "get_service_name"))
	require.Equal(t, "DEMO", svc.Name())
}

// calc is a service with a bit of everything: exposed and hidden members.
type calc struct {
	Label  string `rpyc:"label"`
	Hidden string // exported but untagged: not reachable
	total  atomic.Int64
	calls  *atomic.Int64
}

func (c *calc) Add(a, b int64) int64 { c.total.Add(a + b); return a + b }
func (c *calc) Total() int64         { return c.total.Load() }
func (c *calc) IncrCalls()           { c.calls.Add(1) }
func (c *calc) internal() string     { return "no" }

var _ = (*calc).internal

func TestServiceRoot(t *testing.T) {
	impl := &calc{Label: "calc", Hidden: "h", calls: new(atomic.Int64)}
	svc := services.New(impl)
	// With SETATTR permitted at connection level, the root still refuses.
	addr := serveTCP(t, svc, conn.WithSetattr(true))
	ctx := testCtx(t)
	c, err := conn.Dial(ctx, "tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	root := rootOf(t, c)

	require.Equal(t, "CALC", call(t, root, "get_service_name"))
	require.Equal(t, "CALC", call(t, root, "exposed_get_service_name"))
	require.Equal(t, codec.Tuple{"CALC"}, call(t, root, "get_service_aliases"))
	f, err := root.GetAttr(ctx, "get_service_name")
	require.NoError(t, err)
	v, err := f.(*netref.Proxy).Call(ctx)
	require.NoError(t, err)
	require.Equal(t, "CALC", v)

	require.Equal(t, int64(5), call(t, root, "add", int64(2), int64(3)))
	require.Equal(t, int64(7), call(t, root, "exposed_add", int64(3), int64(4)))
	label, err := root.GetAttr(ctx, "label")
	require.NoError(t, err)
	require.Equal(t, "calc", label)

	for _, name := range []string{"hidden", "Hidden", "internal", "total_", "__dict__", "__class__", "exposed_internal"} {
		_, err := root.GetAttr(ctx, name)
		pyErr(t, err, "AttributeError")
	}
	for _, name := range []string{"label", "add", "newattr"} {
		pe := pyErr(t, root.SetAttr(ctx, name, "x"), "AttributeError")
		require.Equal(t, codec.Tuple{"access denied"}, pe.Args)
		pe = pyErr(t, root.DelAttr(ctx, name), "AttributeError")
		require.Equal(t, codec.Tuple{"access denied"}, pe.Args)
	}
	names, err := root.Dir(ctx)
	require.NoError(t, err)
	require.Subset(t, names, []string{"add", "get_service_aliases", "get_service_name", "incr_calls", "label", "total"})
	require.NotContains(t, names, "hidden")

	// One value shared by every connection.
	c2, err := conn.Dial(ctx, "tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	require.Equal(t, int64(12), call(t, rootOf(t, c2), "total"))
}

type hooked struct {
	id         uint64
	connects   chan uint64
	disconnect chan uint64
	fail       bool
}

func (h *hooked) OnConnect(c *conn.Conn) error {
	if h.fail {
		return errors.New("refused")
	}
	h.id = c.ID()
	h.connects <- c.ID()
	return nil
}

func (h *hooked) OnDisconnect(c *conn.Conn) { h.disconnect <- c.ID() }

func (h *hooked) ID() uint64 { return h.id }

func TestHooksAndPerConn(t *testing.T) {
	connects, disconnects := make(chan uint64, 4), make(chan uint64, 4)
	var built atomic.Int64
	svc := services.PerConn(func(c *conn.Conn) (*hooked, error) {
		built.Add(1)
		return &hooked{connects: connects, disconnect: disconnects}, nil
	}, services.WithName("hooks"))

	a := dialPipe(t, svc)
	b := dialPipe(t, svc)
	idA := call(t, rootOf(t, a), "id")
	idB := call(t, rootOf(t, b), "id")
	require.NotEqual(t, idA, idB, "each connection has its own value")
	require.Equal(t, int64(2), built.Load())
	got := map[uint64]bool{<-connects: true, <-connects: true}
	require.True(t, got[uint64(idA.(int64))] && got[uint64(idB.(int64))])

	require.NoError(t, a.Close())
	select {
	case id := <-disconnects:
		require.Equal(t, uint64(idA.(int64)), id)
	case <-time.After(10 * time.Second):
		t.Fatal("OnDisconnect did not run")
	}
}

func TestOnConnectErrorRefuses(t *testing.T) {
	svc := services.New(&hooked{fail: true})
	srv, cli := net.Pipe()
	defer cli.Close()
	err := conn.ServeNetConn(srv, svc)
	require.ErrorContains(t, err, "refused")
}

func TestFactoryErrorRefuses(t *testing.T) {
	svc := services.PerConn(func(*conn.Conn) (*calc, error) { return nil, errors.New("no capacity") })
	srv, cli := net.Pipe()
	defer cli.Close()
	require.ErrorContains(t, conn.ServeNetConn(srv, svc), "no capacity")
}

func TestVoidService(t *testing.T) {
	c := dialPipe(t, services.Void)
	root := rootOf(t, c)
	require.Equal(t, "VOID", call(t, root, "get_service_name"))
	require.Equal(t, codec.Tuple{"VOID"}, call(t, root, "get_service_aliases"))
	_, err := root.GetAttr(testCtx(t), "anything")
	pyErr(t, err, "AttributeError")
}

// Many connections attach to one Service concurrently.
func TestServiceConcurrentAttach(t *testing.T) {
	svc := services.Conformance()
	addr := serveTCP(t, svc)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	ids := make(chan int64, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := conn.Dial(ctx, "tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			root, err := c.Root(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			v, err := root.CallMethod(ctx, "connection_id")
			if err != nil {
				t.Error(err)
				return
			}
			ids <- v.(int64)
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		require.False(t, seen[id], "connection id %d reused", id)
		seen[id] = true
	}
	require.Len(t, seen, 16)
}
