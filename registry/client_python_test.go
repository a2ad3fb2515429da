package registry_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/registry"
)

// TestGoClientsWithPythonRegistry: our UDP and TCP clients against the real
// Python UDPRegistryServer / TCPRegistryServer: register, discover, list,
// unregister, the Registrar, and ConnectByService to a Python server that
// registered itself.
func TestGoClientsWithPythonRegistry(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := startPy(t, "py_registry.py", mode, "240", "1")
			rport := reg.port()
			c := goClient(mode, rport)

			ok, err := c.Register(ctx, []string{"GoSvc", "go_alias"}, 23456, "127.0.0.1")
			require.NoError(t, err)
			require.True(t, ok)
			ep := registry.Endpoint{Host: "127.0.0.1", Port: 23456}
			for _, name := range []string{"gosvc", "GOSVC", "Go_Alias"} {
				eps, err := c.Discover(ctx, name)
				require.NoError(t, err)
				require.Equal(t, []registry.Endpoint{ep}, eps, name)
			}
			names, err := c.List(ctx, "")
			require.NoError(t, err)
			require.Equal(t, []string{"GOSVC", "GO_ALIAS"}, names)
			names, err = c.List(ctx, "127.0.0.1")
			require.NoError(t, err)
			require.Equal(t, []string{"GOSVC", "GO_ALIAS"}, names)
			names, err = c.List(ctx, "10.9.9.9")
			require.NoError(t, err)
			require.Empty(t, names)

			py := startPyClient(t, mode, rport)
			require.Equal(t, [][2]any{{"127.0.0.1", 23456}}, py.endpoints("discover", "go_alias"))

			require.NoError(t, c.Unregister(ctx, 23456))
			require.Eventually(t, func() bool {
				eps, err := c.Discover(ctx, "gosvc")
				return err == nil && len(eps) == 0
			}, 5*time.Second, 50*time.Millisecond)
			_, err = registry.DiscoverWith(ctx, c, "gosvc")
			require.ErrorIs(t, err, registry.ErrNotFound)

			// The Registrar keeps a registration, judged by the Python client.
			r := registry.NewRegistrar(c, []string{"RegSvc"}, 34567, registry.WithInterface("127.0.0.1"))
			require.NoError(t, r.Start())
			require.Eventually(t, func() bool { return !r.LastRegistered().IsZero() }, 5*time.Second, 20*time.Millisecond)
			require.Equal(t, [][2]any{{"127.0.0.1", 34567}}, py.endpoints("discover", "regsvc"))
			require.NoError(t, r.Close())
			require.Eventually(t, func() bool { return py.do("discover", "regsvc").Error == "DiscoveryError" }, 5*time.Second, 50*time.Millisecond)

			// ConnectByService to a Python server registered with it.
			srv := startPy(t, "py_server.py", mode, strconv.Itoa(rport), "PyEcho")
			sport := srv.port()
			require.Eventually(t, func() bool {
				eps, err := c.Discover(ctx, "pyecho")
				return err == nil && len(eps) == 1 && eps[0].Port == sport
			}, 10*time.Second, 50*time.Millisecond)
			cn, err := conn.ConnectByService(ctx, c, "PYECHO")
			require.NoError(t, err)
			pong, err := cn.Call(ctx, "ping")
			require.NoError(t, err)
			require.Equal(t, "pong", pong)
			require.NoError(t, cn.Close())
		})
	}
}

// TestGoClientListingDisabledPython: the Python registry without listing
// answers None; our List says ErrListingDisabled.
func TestGoClientListingDisabledPython(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			reg := startPy(t, "py_registry.py", mode, "240", "0")
			_, err := goClient(mode, reg.port()).List(testCtx(t), "")
			require.ErrorIs(t, err, registry.ErrListingDisabled)
		})
	}
}

// TestConnectByServiceSkipsDeadEndpoints: endpoints that refuse come first;
// ConnectByService goes on to the live Python server.
func TestConnectByServiceSkipsDeadEndpoints(t *testing.T) {
	t.Parallel()
	pypeer.Require(t)
	ctx := testCtx(t)
	_, rport := startGoServer(t, "udp")
	c := goClient("udp", rport)
	// A port nothing listens on, registered first (oldest first in QUERY).
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	ok, err := c.Register(ctx, []string{"MIXED"}, deadPort, "127.0.0.1")
	require.NoError(t, err)
	require.True(t, ok)
	srv := startPy(t, "py_server.py", "udp", strconv.Itoa(rport), "Mixed")
	sport := srv.port()
	require.Eventually(t, func() bool {
		eps, err := c.Discover(ctx, "mixed")
		return err == nil && len(eps) == 2
	}, 10*time.Second, 50*time.Millisecond)
	eps, _ := c.Discover(ctx, "mixed")
	require.Equal(t, []registry.Endpoint{{Host: "127.0.0.1", Port: deadPort}, {Host: "127.0.0.1", Port: sport}}, eps)
	cn, err := conn.ConnectByService(ctx, c, "mixed")
	require.NoError(t, err)
	require.Equal(t, sport, cn.RemoteAddr().(*net.TCPAddr).Port)
	require.NoError(t, cn.Close())
}

// garbage is input a registry must ignore without a reply; python says
// whether the Python registry survives it too (a non-str command kills
// rpyc's serving loop with an AttributeError).
var garbage = []struct {
	name   string
	data   []byte
	python bool
}{
	{"not brine", []byte{0xff, 0xfe, 0xfd, 0x00}, true},
	{"empty", []byte{}, true},
	{"truncated", mustEncode(codec.Tuple{"RPYC", "QUERY", codec.Tuple{"x"}})[:10], true},
	{"not a tuple", mustEncode(int64(5)), true},
	{"2-tuple", mustEncode(codec.Tuple{"RPYC", "QUERY"}), true},
	{"4-tuple", mustEncode(codec.Tuple{"RPYC", "QUERY", codec.Tuple{"x"}, nil}), true},
	{"wrong magic", mustEncode(codec.Tuple{"RPYD", "QUERY", codec.Tuple{"x"}}), true},
	{"bytes magic", mustEncode(codec.Tuple{[]byte("RPYC"), "QUERY", codec.Tuple{"x"}}), true},
	{"unknown command", mustEncode(codec.Tuple{"RPYC", "DELETE", codec.Tuple{"x"}}), true},
	{"wrong arity", mustEncode(codec.Tuple{"RPYC", "QUERY", codec.Tuple{"x", "y"}}), true},
	{"register without port", mustEncode(codec.Tuple{"RPYC", "REGISTER", codec.Tuple{codec.Tuple{"X"}}}), true},
	{"query int name", mustEncode(codec.Tuple{"RPYC", "QUERY", codec.Tuple{int64(7)}}), true},
	{"oversized", mustEncode(codec.Tuple{"RPYC", "REGISTER", codec.Tuple{codec.Tuple{string(make([]byte, 2000))}, int64(1)}}), true},
	{"int command", mustEncode(codec.Tuple{"RPYC", int64(1), codec.Tuple{}}), false},
}

func mustEncode(v any) []byte {
	b, err := codec.Append(nil, v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestGarbageIgnored: every bad request gets no reply and the registry
// keeps serving; the Python registry is the judge of "no reply".
func TestGarbageIgnored(t *testing.T) {
	t.Parallel()
	for _, impl := range []string{"go", "python"} {
		for _, mode := range []string{"udp", "tcp"} {
			t.Run(impl+"/"+mode, func(t *testing.T) {
				t.Parallel()
				var rport int
				if impl == "go" {
					_, rport = startGoServer(t, mode, registry.WithListing(true))
				} else {
					rport = startPy(t, "py_registry.py", mode, "240", "1").port()
				}
				addr := "127.0.0.1:" + strconv.Itoa(rport)
				c := goClient(mode, rport)
				ctx := testCtx(t)
				ok, err := c.Register(ctx, []string{"ALIVE"}, 4242, "127.0.0.1")
				require.NoError(t, err)
				require.True(t, ok)
				// Like Python's brine.load, bytes after the request are ignored.
				query := mustEncode(codec.Tuple{"RPYC", "QUERY", codec.Tuple{"alive"}})
				exchange := udpExchange
				if mode == "tcp" {
					exchange = tcpExchange
				}
				want := exchange(t, addr, query, 3*time.Second)
				require.Equal(t, mustEncode(codec.Tuple{codec.Tuple{"127.0.0.1", int64(4242)}}), want)
				require.Equal(t, want, exchange(t, addr, append(query, 0xff, 0x00, 0x12), 3*time.Second))
				for _, g := range garbage {
					if impl == "python" && !g.python {
						continue
					}
					if mode == "udp" {
						require.Nil(t, udpExchange(t, addr, g.data, 150*time.Millisecond), g.name)
					} else {
						require.Nil(t, tcpExchange(t, addr, g.data, 300*time.Millisecond), g.name)
					}
					eps, err := c.Discover(ctx, "alive")
					require.NoError(t, err, g.name)
					require.Equal(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 4242}}, eps, "after %s", g.name)
				}
			})
		}
	}
}
