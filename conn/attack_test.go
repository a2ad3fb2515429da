package conn_test

// Access control, as attacks: through every handler, a peer reaches only
// what the service exposed. Each test is a table of handler × attack run
// against a live server connection, from a Go client that sends the raw
// requests (forged references included) a hostile peer would send; the
// real Python client's attacks are in testdata/attack_client.py.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
	"github.com/rpycgo/rpycgo/services/pypeer"
)

// Values that must never reach the peer.
const (
	vaultKey    = "k3y-unexported"
	vaultToken  = "t0ken-untagged"
	vaultHidden = "h1dden-dash-tag"
	vaultInnerK = "inner-k3y"
)

type vaultInner struct{ Key string }

func (i *vaultInner) Reveal() string { return i.Key }

// vault is a service with something of everything a peer must not reach:
// unexported fields and methods, exported untagged fields, a field tagged
// "-", connection hooks, the connection and its context, plus an ordinary
// exposed method named Exit (not a context manager: CTXEXIT must not call
// it).
type vault struct {
	Public string `rpyc:"public"`
	Token  string
	Hidden string `rpyc:"-"`
	Nested vaultInner
	Inner  *vaultInner

	key   string
	conn  *conn.Conn
	ctx   context.Context
	exits atomic.Int64
	hooks atomic.Int64
}

func newVault(c *conn.Conn) (*vault, error) {
	return &vault{
		Public: "public",
		Token:  vaultToken,
		Hidden: vaultHidden,
		Nested: vaultInner{Key: vaultInnerK},
		Inner:  &vaultInner{Key: vaultInnerK},
		key:    vaultKey,
	}, nil
}

func (v *vault) Echo(x any) any          { return x }
func (v *vault) Fn() func(int64) int64   { return func(x int64) int64 { return x + 1 } }
func (v *vault) Table() map[string]int64 { return map[string]int64{"a": 1} }
func (v *vault) Items() []int64          { return []int64{1, 2} }
func (v *vault) Exit(exc any) bool       { v.exits.Add(1); return true }
func (v *vault) Exits() int64            { return v.exits.Load() }
func (v *vault) Hooks() int64            { return v.hooks.Load() }
func (v *vault) secret() string          { return v.key }
func (v *vault) OnConnect(c *conn.Conn) error {
	v.hooks.Add(1)
	v.conn, v.ctx = c, c.Context()
	return nil
}
func (v *vault) OnDisconnect(*conn.Conn) { v.hooks.Add(1) }

func (v *vault) Gen() iter.Seq[any] {
	return func(yield func(any) bool) { _ = yield(int64(1)) && yield(int64(2)) }
}

// View is a restricted view of the vault itself: echo and public only.
func (v *vault) View() netref.Object {
	return netref.Restricted(v, []string{"echo", "public"}, []string{"public"})
}

var _ = (*vault).secret

// vaultDir is everything dir(root) may list.
var vaultDir = []string{"__doc__", "echo", "exit", "exits", "fn", "gen", "get_service_aliases",
	"get_service_name", "hooks", "items", "public", "table", "view"}

// attackNames are attribute names no target exposes.
var attackNames = []string{
	"__class__", "__dict__", "__globals__", "__init__", "__self__", "__func__", "__code__",
	"__closure__", "__defaults__", "__kwdefaults__", "__builtins__", "__subclasses__",
	"__reduce__", "__reduce_ex__", "__getattribute__", "__getattr__", "__setattr__",
	"__delattr__", "__new__", "__init_subclass__", "__subclasshook__", "__mro__", "__bases__",
	"__base__", "__module__", "__weakref__", "__slots__", "__getstate__", "__setstate__",
	"__class__.__subclasses__", "echo.__globals__", "__self__.key",
	"secret", "_secret", "Secret", "exposed_secret", "key", "_key", "Key",
	"token", "Token", "hidden", "Hidden", "nested", "Nested", "inner", "Inner", "reveal",
	"conn", "Conn", "_conn", "ctx", "context", "Context",
	"on_connect", "on_disconnect", "OnConnect", "OnDisconnect", "exposed_on_connect", "exposed_on_disconnect",
	"r_py_c_params", "rpyc_params", "RPyCParams", "r_py_c_properties", "string", "String",
	"lock", "unlock", "Lock", "value_", "exits_",
	"modules", "getmodule", "eval", "execute", "namespace", "builtin", "builtins", "_local_objects",
	"_protocol", "_rpyc_getattr", "_config", "exposed_", "", " echo", "ECHO", "Echo", "echo\x00",
}

// attackTarget is one object of the server the client holds a reference to.
type attackTarget struct {
	name     string
	ref      *netref.Proxy
	callable bool
}

// attackEnv is a client connection to a server connection, with the
// targets the client obtained from the server's root.
type attackEnv struct {
	client, server *conn.Conn
	root           *netref.Proxy
	targets        []attackTarget
	keep           []*netref.Proxy // forged proxies, kept until the end
}

// permissive switches on every attribute switch of the server: then only
// the objects themselves stand between the peer and their internals.
func permissive(c *conn.Config) { c.AllowSetattr, c.AllowDelattr = true, true }

func newAttackEnv(t *testing.T, svc conn.Service, opts ...conn.Option) *attackEnv {
	t.Helper()
	env := &attackEnv{}
	// Registered first, run last: the forged proxies are collected only
	// after both ends have closed (their DEL is then never sent).
	t.Cleanup(func() { runtime.KeepAlive(env.keep) })
	a, b := net.Pipe()
	var err error
	env.server, err = conn.NewNetConn(a, svc, opts...)
	require.NoError(t, err)
	env.client, err = conn.NewNetConn(b, nil, conn.WithTimeout(20*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { env.client.Close(); env.server.Close() })
	env.root, err = env.client.Root(attackCtx(t))
	require.NoError(t, err)
	env.add(t, "root", env.root, false)
	return env
}

func attackCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *attackEnv) add(t *testing.T, name string, v any, callable bool) *netref.Proxy {
	t.Helper()
	p, ok := v.(*netref.Proxy)
	require.True(t, ok, "%s is %T, not a reference", name, v)
	e.targets = append(e.targets, attackTarget{name, p, callable})
	return p
}

// target returns the reference of the target named name.
func (e *attackEnv) target(name string) *netref.Proxy {
	for _, tg := range e.targets {
		if tg.name == name {
			return tg.ref
		}
	}
	panic("no target " + name)
}

// forge makes a reference to id as the client would send it back, whether
// or not the server ever handed id out.
func (e *attackEnv) forge(id netref.IDPack) *netref.Proxy {
	p := netref.NewProxy(e.client, id)
	e.keep = append(e.keep, p)
	return p
}

// newVaultEnv serves the vault and collects a target of every kind.
func newVaultEnv(t *testing.T, opts ...conn.Option) (*attackEnv, *vault) {
	t.Helper()
	var mu sync.Mutex
	var v *vault
	svc := services.PerConn(func(c *conn.Conn) (*vault, error) {
		nv, err := newVault(c)
		mu.Lock()
		v = nv
		mu.Unlock()
		return nv, err
	})
	env := newAttackEnv(t, svc, opts...)
	ctx := attackCtx(t)
	get := func(obj *netref.Proxy, name string) any {
		r, err := obj.GetAttr(ctx, name)
		require.NoError(t, err, name)
		return r
	}
	call := func(name string) any {
		r, err := env.root.CallMethod(ctx, name)
		require.NoError(t, err, name)
		return r
	}
	env.add(t, "method echo", get(env.root, "echo"), true)
	env.add(t, "function get_service_name", get(env.root, "get_service_name"), true)
	env.add(t, "function fn()", call("fn"), true)
	env.add(t, "dict table()", call("table"), false)
	env.add(t, "list items()", call("items"), false)
	env.add(t, "generator gen()", call("gen"), false)
	view := env.add(t, "restricted view()", call("view"), false)
	env.add(t, "view method echo", get(view, "echo"), true)
	mu.Lock()
	defer mu.Unlock()
	return env, v
}

// newConformanceEnv serves the CONFORMANCE service.
func newConformanceEnv(t *testing.T, opts ...conn.Option) *attackEnv {
	t.Helper()
	env := newAttackEnv(t, services.Conformance(), opts...)
	ctx := attackCtx(t)
	cls, err := env.root.GetAttr(ctx, "Counter")
	require.NoError(t, err)
	env.add(t, "class Counter", cls, true)
	ctr, err := env.root.CallMethod(ctx, "Counter", int64(5))
	require.NoError(t, err)
	env.add(t, "Counter(5)", ctr, false)
	m, err := env.root.CallMethod(ctx, "mapping")
	require.NoError(t, err)
	env.add(t, "mapping()", m, false)
	return env
}

// pyErr returns the class of the Python exception err carries, or fails.
func pyErr(t *testing.T, err error, what string) *codec.PyError {
	t.Helper()
	var pe *codec.PyError
	require.True(t, errors.As(err, &pe), "%s: want a Python exception, got %v", what, err)
	return pe
}

// leaks reports whether a reply hands out something: a reference to a
// server object, or text holding one of the vault's secrets.
func leaks(v any) string {
	switch x := v.(type) {
	case *netref.Proxy:
		return "a reference " + x.ID().String()
	case string:
		for _, s := range []string{vaultKey, vaultToken, vaultHidden, vaultInnerK} {
			if strings.Contains(x, s) {
				return "the secret " + strconv.Quote(s)
			}
		}
	case codec.Tuple:
		for _, it := range x {
			if l := leaks(it); l != "" {
				return l
			}
		}
	}
	return ""
}

// TestAttackAttributeNames: GETATTR, CALLATTR, SETATTR and DELATTR of a
// name the target does not expose raise AttributeError on every target,
// with the attribute switches at their defaults and all on, and hand out
// nothing (no reference, no secret, no new object in the table).
func TestAttackAttributeNames(t *testing.T) {
	for _, cfg := range []struct {
		name string
		opts []conn.Option
	}{
		{"defaults", nil},
		{"permissive", []conn.Option{permissive}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			vEnv, v := newVaultEnv(t, cfg.opts...)
			cEnv := newConformanceEnv(t, cfg.opts...)
			for _, env := range []*attackEnv{vEnv, cEnv} {
				ctx := attackCtx(t)
				held := env.server.HeldObjects()
				for _, tg := range env.targets {
					for _, name := range attackNames {
						for _, h := range []struct {
							code int
							args []any
						}{
							{netref.HandleGetAttr, []any{tg.ref, name}},
							{netref.HandleGetAttr, []any{tg.ref, []byte(name)}},
							{netref.HandleCallAttr, []any{tg.ref, name, codec.Tuple{}, codec.Tuple{}}},
							{netref.HandleCallAttr, []any{tg.ref, name, codec.Tuple{nil}, codec.Tuple{}}},
							{netref.HandleSetAttr, []any{tg.ref, name, "pwned"}},
							{netref.HandleDelAttr, []any{tg.ref, name}},
						} {
							what := fmt.Sprintf("%s: handler %d %q", tg.name, h.code, name)
							r, err := env.client.Request(ctx, h.code, h.args...)
							require.Error(t, err, "%s answered %v", what, r)
							require.Equal(t, "AttributeError", pyErr(t, err, what).Class, what)
							require.Empty(t, leaks(err.Error()), what)
						}
					}
				}
				require.Equal(t, held, env.server.HeldObjects(), "attacks exported new objects")
			}
			// Nothing was called on the way: no Exit, no hook beyond OnConnect.
			require.Zero(t, v.exits.Load())
			require.Equal(t, int64(1), v.hooks.Load())
		})
	}
}

// TestAttackSwitchesOff: with allow_getattr off nothing is readable, not
// even exposed names; with allow_setattr and allow_delattr off (the
// default) nothing is writable, not even a field tagged rw.
func TestAttackSwitchesOff(t *testing.T) {
	env, _ := newVaultEnv(t)
	ctx := attackCtx(t)
	for _, h := range []struct {
		code int
		args []any
	}{
		{netref.HandleSetAttr, []any{env.root, "public", "x"}},
		{netref.HandleDelAttr, []any{env.root, "public"}},
		{netref.HandleSetAttr, []any{env.target("restricted view()"), "public", "x"}}, // the view allows writing it
	} {
		_, err := env.client.Request(ctx, h.code, h.args...)
		pe := pyErr(t, err, "switch off")
		require.Equal(t, "AttributeError", pe.Class)
		require.Contains(t, pe.Error(), "cannot access 'public'")
	}

	off := func(c *conn.Config) { c.AllowGetattr = false }
	env2 := newAttackEnv(t, services.PerConn(newVault), off)
	for _, tg := range env2.targets {
		for _, name := range []string{"echo", "public", "__doc__", "__call__", "get_service_name", "exposed_echo"} {
			for _, args := range [][]any{{tg.ref, name}, {tg.ref, name, codec.Tuple{}, codec.Tuple{}}} {
				code := netref.HandleGetAttr
				if len(args) > 2 {
					code = netref.HandleCallAttr
				}
				_, err := env2.client.Request(ctx, code, args...)
				pe := pyErr(t, err, tg.name+" "+name)
				require.Equal(t, "AttributeError", pe.Class)
				require.Contains(t, pe.Error(), "cannot access")
			}
		}
	}
}

// TestAttackDirInspect: DIR lists only exposed names, each of them
// readable with GETATTR; INSPECT lists only names DIR lists, and neither
// lists an internal name, on every target.
func TestAttackDirInspect(t *testing.T) {
	vEnv, _ := newVaultEnv(t)
	cEnv := newConformanceEnv(t)
	attack := map[string]bool{}
	for _, n := range attackNames {
		attack[n] = true
	}
	for _, env := range []*attackEnv{vEnv, cEnv} {
		ctx := attackCtx(t)
		for _, tg := range env.targets {
			r, err := env.client.Request(ctx, netref.HandleDir, tg.ref)
			require.NoError(t, err, tg.name)
			var dir []string
			for _, n := range r.(codec.Tuple) {
				dir = append(dir, n.(string))
			}
			for _, n := range dir {
				require.False(t, attack[n], "%s: dir lists %q", tg.name, n)
				_, err := env.client.Request(ctx, netref.HandleGetAttr, tg.ref, n)
				require.NoError(t, err, "%s: dir lists %q, which GETATTR refuses", tg.name, n)
			}
			r, err = env.client.Request(ctx, netref.HandleInspect, tg.ref.ID().Tuple())
			require.NoError(t, err, tg.name)
			for _, pair := range r.(codec.Tuple) {
				n := pair.(codec.Tuple)[0].(string)
				require.False(t, attack[n], "%s: inspect lists %q", tg.name, n)
				require.Contains(t, dir, n, "%s: inspect lists %q, dir does not", tg.name, n)
			}
		}
	}
	r, err := vEnv.client.Request(attackCtx(t), netref.HandleDir, vEnv.root)
	require.NoError(t, err)
	var got []string
	for _, n := range r.(codec.Tuple) {
		got = append(got, n.(string))
	}
	require.Equal(t, vaultDir, got, "dir(root) lists exactly the exposed names")
}

// TestAttackValueHandlers: STR, REPR, HASH, CMP, CALL, BUFFITER, CTXEXIT
// and INSTANCECHECK on every target answer a plain value or an exception,
// never a reference nor a secret; CMP with any operator name calls no
// method; CTXEXIT calls no __exit__ the target does not have (the vault's
// exposed exit method included); CALL cannot fill hidden parameters.
func TestAttackValueHandlers(t *testing.T) {
	vEnv, v := newVaultEnv(t)
	cEnv := newConformanceEnv(t)
	ops := append([]string{"__eq__", "__ne__", "__lt__", "__cmp__", "exit", "echo", "__exit__",
		"__call__", "__next__", "on_disconnect", "Counter", "incr", "reset", "__setitem__"}, attackNames...)
	for _, env := range []*attackEnv{vEnv, cEnv} {
		ctx := attackCtx(t)
		held := env.server.HeldObjects()
		check := func(what string, r any, err error, classes ...string) {
			t.Helper()
			if err != nil {
				pe := pyErr(t, err, what)
				require.Contains(t, classes, pe.Class, "%s: %v", what, err)
				require.Empty(t, leaks(err.Error()), what)
				return
			}
			require.Empty(t, leaks(r), "%s leaks", what)
		}
		for _, tg := range env.targets {
			for _, h := range []int{netref.HandleStr, netref.HandleRepr, netref.HandleHash} {
				r, err := env.client.Request(ctx, h, tg.ref)
				check(fmt.Sprintf("%s: handler %d", tg.name, h), r, err, "TypeError")
				if err == nil && h != netref.HandleHash {
					require.IsType(t, "", r)
				}
			}
			for _, op := range ops {
				for _, other := range []any{nil, tg.ref, env.root} {
					r, err := env.client.Request(ctx, netref.HandleCmp, tg.ref, other, op)
					what := fmt.Sprintf("%s: CMP %q", tg.name, op)
					check(what, r, err, "AttributeError", "TypeError")
					if err == nil {
						_, isBool := r.(bool)
						require.True(t, isBool || r == codec.NotImplemented, "%s answered %v", what, r)
					}
				}
			}
			// BUFFITER takes items from iterators only.
			if !strings.HasPrefix(tg.name, "generator") {
				_, err := env.client.Request(ctx, netref.HandleBuffIter, tg.ref, int64(4))
				require.Equal(t, "AttributeError", pyErr(t, err, tg.name+" BUFFITER").Class)
			}
			_, err := env.client.Request(ctx, netref.HandleBuffIter, tg.ref, int64(-1))
			require.Equal(t, "TypeError", pyErr(t, err, tg.name+" BUFFITER -1").Class)
			// CTXEXIT: none of the targets is a context manager.
			for _, exc := range []any{nil, tg.ref, "KeyError"} {
				r, err := env.client.Request(ctx, netref.HandleCtxExit, tg.ref, exc)
				require.NoError(t, err, tg.name)
				require.Equal(t, false, r, "%s: CTXEXIT", tg.name)
			}
			// INSTANCECHECK: a bool, whatever the other id_pack.
			for _, other := range []any{tg.ref.ID().Tuple(), env.root.ID().Tuple(), "x", nil,
				codec.Tuple{tg.ref.ID().Name, int64(1 << 40), int64(1)}} {
				r, err := env.client.Request(ctx, netref.HandleInstanceCheck, tg.ref, other)
				require.NoError(t, err, tg.name)
				require.IsType(t, false, r, "%s: INSTANCECHECK", tg.name)
			}
			// CALL: what is not callable is not called; what is callable
			// takes no hidden parameter by keyword.
			if !tg.callable {
				_, err := env.client.Request(ctx, netref.HandleCall, tg.ref, codec.Tuple{}, codec.Tuple{})
				require.Equal(t, "TypeError", pyErr(t, err, tg.name+" CALL").Class)
			}
			for _, kw := range []string{"ctx", "context", "c", "conn", "self", "v", "__class__", "key", "x", "start", "by", "kwargs"} {
				args := codec.Tuple{int64(1)}
				r, err := env.client.Request(ctx, netref.HandleCall, tg.ref, args, codec.Tuple{codec.Tuple{kw, int64(2)}})
				check(fmt.Sprintf("%s: CALL %s=", tg.name, kw), r, err, "TypeError")
			}
		}
		require.Equal(t, held, env.server.HeldObjects(), "attacks exported new objects")
	}
	require.Zero(t, v.exits.Load(), "CTXEXIT or CMP called the vault's exit method")
	require.Equal(t, int64(1), v.hooks.Load(), "a connection hook was called by the peer")
}

// TestAttackForgedReferences: through every handler, a reference the
// server never handed out on this connection raises KeyError and leaks
// nothing: one handed out on another connection, one with the right
// name_pack and class but another instance, the right class and instance
// under another name_pack, and made-up ones. The connection goes on, and
// the objects it does hold are untouched (a forged DEL releases nothing).
func TestAttackForgedReferences(t *testing.T) {
	other := newConformanceEnv(t) // connection A
	env := newConformanceEnv(t)   // connection B
	ctx := attackCtx(t)
	// A holds more objects than B: its ids name nothing on B.
	var theirs []netref.IDPack
	for range 8 {
		v, err := other.root.CallMethod(ctx, "Counter", int64(1))
		require.NoError(t, err)
		theirs = append(theirs, v.(*netref.Proxy).ID())
	}
	ctr := env.target("Counter(5)").ID() // B's own
	root := env.root.ID()
	forged := map[string]netref.IDPack{
		"other connection's Counter":  theirs[len(theirs)-1],
		"right name, wrong instance":  {Name: ctr.Name, Class: ctr.Class, Instance: ctr.Instance + 1000},
		"right name, wrong class":     {Name: ctr.Name, Class: ctr.Class + 1000, Instance: ctr.Instance},
		"root's ids, other name":      {Name: "rpycgo.Counter", Class: root.Class, Instance: root.Instance},
		"Counter's ids, builtin name": {Name: "builtins.object", Class: ctr.Class, Instance: ctr.Instance},
		"zero":                        {},
		"negative":                    {Name: root.Name, Class: -1, Instance: -1},
		"class object":                {Name: ctr.Name, Class: ctr.Class, Instance: 0},
	}
	held := env.server.HeldObjects()
	for what, id := range forged {
		ref := env.forge(id)
		for _, h := range []struct {
			code int
			args []any
		}{
			{netref.HandlePing, []any{ref}},
			{netref.HandleGetAttr, []any{ref, "incr"}},
			{netref.HandleGetAttr, []any{ref, "__class__"}},
			{netref.HandleSetAttr, []any{ref, "value", int64(1)}},
			{netref.HandleDelAttr, []any{ref, "value"}},
			{netref.HandleCallAttr, []any{ref, "incr", codec.Tuple{}, codec.Tuple{}}},
			{netref.HandleCall, []any{ref, codec.Tuple{}, codec.Tuple{}}},
			{netref.HandleCall, []any{env.target("class Counter"), codec.Tuple{ref}, codec.Tuple{}}}, // as an argument
			{netref.HandleRepr, []any{ref}},
			{netref.HandleStr, []any{ref}},
			{netref.HandleCmp, []any{ref, nil, "__eq__"}},
			{netref.HandleCmp, []any{env.root, ref, "__eq__"}},
			{netref.HandleHash, []any{ref}},
			{netref.HandleDir, []any{ref}},
			{netref.HandleInspect, []any{id.Tuple()}},
			{netref.HandleBuffIter, []any{ref, int64(1)}},
			{netref.HandleCtxExit, []any{ref, nil}},
			{netref.HandleCtxExit, []any{env.root, ref}},
			{netref.HandleInstanceCheck, []any{ref, root.Tuple()}},
			{netref.HandleDel, []any{ref, int64(1000)}},
		} {
			w := fmt.Sprintf("%s: handler %d", what, h.code)
			r, err := env.client.Request(ctx, h.code, h.args...)
			require.Error(t, err, "%s answered %v", w, r)
			require.Equal(t, "KeyError", pyErr(t, err, w).Class, w)
		}
		// INSTANCECHECK's other id_pack is looked up, not unboxed: False.
		r, err := env.client.Request(ctx, netref.HandleInstanceCheck, env.target("class Counter"), id.Tuple())
		require.NoError(t, err, what)
		require.Equal(t, false, r, what)
	}
	require.False(t, env.server.Closed())
	require.Equal(t, held, env.server.HeldObjects(), "a forged reference changed the object table")
	// B's own objects still answer.
	n, err := env.target("Counter(5)").CallMethod(ctx, "incr")
	require.NoError(t, err)
	require.Equal(t, int64(6), n)
	_, err = env.root.CallMethod(ctx, "echo", int64(1))
	require.NoError(t, err)
}

// TestAttackServiceHandlers: PING, GETROOT and the service-level members
// answer what they must and hand out nothing more: the root is the same
// object each time, get_service_name is a plain function with no way to
// its owner, and the exposed_ prefix reaches nothing more.
func TestAttackServiceHandlers(t *testing.T) {
	env, _ := newVaultEnv(t)
	ctx := attackCtx(t)
	r, err := env.client.Request(ctx, netref.HandlePing, "x")
	require.NoError(t, err)
	require.Equal(t, "x", r)
	r, err = env.client.Request(ctx, netref.HandlePing, env.root) // the peer's own reference: handed back as is
	require.NoError(t, err)
	require.Equal(t, env.root, r)
	for range 3 {
		r, err = env.client.Request(ctx, netref.HandleGetRoot)
		require.NoError(t, err)
		require.Equal(t, env.root.ID(), r.(*netref.Proxy).ID())
	}
	for _, name := range []string{"get_service_name", "exposed_get_service_name"} {
		r, err = env.client.Request(ctx, netref.HandleCallAttr, env.root, name, codec.Tuple{}, codec.Tuple{})
		require.NoError(t, err)
		require.Equal(t, "VAULT", r)
	}
	r, err = env.client.Request(ctx, netref.HandleCallAttr, env.root, "get_service_aliases", codec.Tuple{}, codec.Tuple{})
	require.NoError(t, err)
	require.Equal(t, codec.Tuple{"VAULT"}, r)
	_, err = env.client.Request(ctx, netref.HandleCallAttr, env.root, "get_service_name", codec.Tuple{env.root}, codec.Tuple{})
	require.Equal(t, "TypeError", pyErr(t, err, "get_service_name(x)").Class)
	_, err = env.client.Request(ctx, netref.HandlePickle, env.root, int64(-1))
	require.Equal(t, "ValueError", pyErr(t, err, "PICKLE").Class)
	_, err = env.client.Request(ctx, netref.HandleOldSlicing, env.root, "__getitem__", "__getslice__", int64(0), int64(1), codec.Tuple{})
	require.Equal(t, "TypeError", pyErr(t, err, "OLDSLICING").Class)
}

// TestCallAttrExposedClass: CALLATTR(root, "Counter", args, kwargs) is
// getattr(root, "Counter")(*args, **kwargs), as in RPyC (it used to raise
// TypeError: 'CounterClass' object is not callable).
func TestCallAttrExposedClass(t *testing.T) {
	env := newConformanceEnv(t)
	ctx := attackCtx(t)
	for _, call := range []struct {
		args codec.Tuple
		kw   codec.Tuple
		want int64
	}{
		{codec.Tuple{}, codec.Tuple{}, 0},
		{codec.Tuple{int64(7)}, codec.Tuple{}, 7},
		{codec.Tuple{}, codec.Tuple{codec.Tuple{"start", int64(9)}}, 9},
	} {
		r, err := env.client.Request(ctx, netref.HandleCallAttr, env.root, "Counter", call.args, call.kw)
		require.NoError(t, err)
		p := r.(*netref.Proxy)
		require.Equal(t, "rpycgo.Counter", p.ID().Name)
		v, err := p.GetAttr(ctx, "value")
		require.NoError(t, err)
		require.Equal(t, call.want, v)
		require.NoError(t, p.Close())
	}
	_, err := env.client.Request(ctx, netref.HandleCallAttr, env.root, "Counter", codec.Tuple{"x"}, codec.Tuple{})
	require.Equal(t, "TypeError", pyErr(t, err, "Counter('x')").Class)
	// A field that holds no callable is still not callable.
	_, err = env.client.Request(ctx, netref.HandleCallAttr, env.root, "version", codec.Tuple{}, codec.Tuple{})
	pe := pyErr(t, err, "version()")
	require.Equal(t, "TypeError", pe.Class)
	require.Contains(t, pe.Error(), "'str' object is not callable")
}

// TestAttackFromPython runs the attacks a real rpyc 5.3 client would try
// (testdata/attack_client.py) against the vault served by a Go server.
func TestAttackFromPython(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var vaults []*vault
	svc := services.PerConn(func(c *conn.Conn) (*vault, error) {
		v, err := newVault(c)
		mu.Lock()
		vaults = append(vaults, v)
		mu.Unlock()
		return v, err
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = conn.ServeNetConn(nc, svc)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	out := pypeer.Run(t, 120*time.Second, "attack_client.py", port)
	require.Contains(t, out, "ALL ATTACKS REFUSED", out)
	t.Log(strings.TrimSpace(out))
	for _, s := range []string{vaultKey, vaultToken, vaultHidden, vaultInnerK} {
		require.NotContains(t, out, s)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, vaults)
	for _, v := range vaults {
		require.Zero(t, v.exits.Load(), "the peer called exit through CTXEXIT or CMP")
	}
}
