package services_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// transports are the ways a Go client reaches a Go server in these tests.
var transports = []struct {
	name string
	dial func(t *testing.T, svc conn.Service, clientOpts ...conn.Option) *conn.Conn
}{
	{"pipe", dialPipe},
	{"tcp", dialTCP},
}

// dialPipe serves svc on one end of a net.Pipe and returns the client
// connection on the other. Each end's writes are queued (asyncWriter):
// conn answers some requests from its read goroutine, and two read loops
// writing to each other over an unbuffered net.Pipe deadlock.
func dialPipe(t *testing.T, svc conn.Service, clientOpts ...conn.Option) *conn.Conn {
	t.Helper()
	srvPipe, cliPipe := net.Pipe()
	srv, cli := newAsyncWriter(srvPipe), newAsyncWriter(cliPipe)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.ServeNetConn(srv, svc)
	}()
	c, err := conn.NewNetConn(cli, nil, clientOpts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server connection did not end after the client closed")
		}
	})
	return c
}

// dialTCP serves svc on a loopback listener and dials it.
func dialTCP(t *testing.T, svc conn.Service, clientOpts ...conn.Option) *conn.Conn {
	t.Helper()
	addr := serveTCP(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.Dial(ctx, "tcp", addr, clientOpts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rootOf(t *testing.T, c *conn.Conn) *netref.Proxy {
	t.Helper()
	root, err := c.Root(testCtx(t))
	require.NoError(t, err)
	return root
}

func call(t *testing.T, root *netref.Proxy, name string, args ...any) any {
	t.Helper()
	v, err := root.CallMethod(testCtx(t), name, args...)
	require.NoError(t, err, "%s%v", name, args)
	return v
}

// pyErr asserts that err is a remote exception of the builtin class.
func pyErr(t *testing.T, err error, class string) *codec.PyError {
	t.Helper()
	require.Error(t, err)
	var pe *codec.PyError
	require.True(t, errors.As(err, &pe), "not a *codec.PyError: %T %v", err, err)
	require.Equal(t, "builtins", pe.Module)
	require.Equal(t, class, pe.Class, "%v", pe)
	return pe
}

func bigInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

// helloService is what a Go client exposes for peer_call.
type helloService struct{}

func (helloService) Hello(name string) string { return "hello " + name }

func TestGoClientConformance(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.dial(t, services.Conformance(), conn.WithService(services.New(helloService{})))
			root := rootOf(t, c)
			ctx := testCtx(t)

			t.Run("names", func(t *testing.T) {
				require.Equal(t, "CONFORMANCE", call(t, root, "get_service_name"))
				require.Equal(t, codec.Tuple{"CONFORMANCE", "CONF"}, call(t, root, "get_service_aliases"))
				require.Equal(t, "CONFORMANCE", call(t, root, "exposed_get_service_name"))
				v, err := root.GetAttr(ctx, "version")
				require.NoError(t, err)
				require.Equal(t, services.Version, v)
			})

			t.Run("echo", func(t *testing.T) {
				values := []any{
					nil, true, false, int64(0), int64(-49), int64(math.MaxInt64), int64(math.MinInt64),
					bigInt("1267650600228229401496703205376"), bigInt("-1180591620717411303424"),
					1.5, math.Inf(-1), math.Copysign(0, -1), complex(1, -2), "", "héllo ✓ 🐍",
					[]byte{0, 255}, codec.Tuple{}, codec.Tuple{int64(1), codec.Tuple{"a", codec.Tuple{nil}}},
					codec.FrozenSet{int64(1), "x"}, codec.Slice{Start: int64(1), Stop: nil, Step: int64(2)},
					codec.Ellipsis, codec.NotImplemented,
				}
				for _, v := range values {
					got := call(t, root, "echo", v)
					require.Equal(t, v, got)
				}
				nan := call(t, root, "echo", math.NaN()).(float64)
				require.True(t, math.IsNaN(nan))
				negz := call(t, root, "echo", math.Copysign(0, -1)).(float64)
				require.True(t, math.Signbit(negz))

				// A Go object passed by reference comes back as itself.
				m := map[string]int{"k": 1}
				require.Equal(t, fmt.Sprintf("%p", m), fmt.Sprintf("%p", call(t, root, "echo", m)))
				type box struct{ N int }
				b := &box{N: 1}
				require.Same(t, b, call(t, root, "echo", b))

				// A server object comes back as the same proxy.
				mp := call(t, root, "mapping")
				require.Same(t, mp, call(t, root, "echo", mp))
			})

			t.Run("add", func(t *testing.T) {
				require.Equal(t, int64(3), call(t, root, "add", int64(1), int64(2)))
				require.Equal(t, bigInt("9223372036854775808"), call(t, root, "add", int64(math.MaxInt64), int64(1)))
				require.Equal(t, bigInt("-9223372036854775809"), call(t, root, "add", int64(math.MinInt64), int64(-1)))
				require.Equal(t, int64(0), call(t, root, "add", bigInt("1267650600228229401496703205376"), bigInt("-1267650600228229401496703205376")))
				require.Equal(t, 3.75, call(t, root, "add", 1.5, 2.25))
				require.Equal(t, 1.5, call(t, root, "add", int64(1), 0.5))
				require.Equal(t, "abcd", call(t, root, "add", "ab", "cd"))
				require.Equal(t, []byte("abcd"), call(t, root, "add", []byte("ab"), []byte("cd")))
				for _, p := range [][2]any{{true, int64(1)}, {"a", int64(1)}, {[]byte("a"), "a"}, {nil, nil}, {codec.Tuple{}, codec.Tuple{}}} {
					_, err := root.CallMethod(ctx, "add", p[0], p[1])
					pyErr(t, err, "TypeError")
				}
			})

			t.Run("divide", func(t *testing.T) {
				a := new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)
				want, _ := new(big.Rat).SetFrac(a, big.NewInt(3)).Float64()
				require.Equal(t, want, call(t, root, "divide", a, int64(3)))
				require.Equal(t, 0.5, call(t, root, "divide", int64(1), int64(2)))
				_, err := root.CallMethod(ctx, "divide", int64(1), int64(0))
				pe := pyErr(t, err, "ZeroDivisionError")
				require.Equal(t, codec.Tuple{"division by zero"}, pe.Args)
				_, err = root.CallMethod(ctx, "divide", "1", int64(2))
				pyErr(t, err, "TypeError")
			})

			t.Run("raise_error", func(t *testing.T) {
				for _, name := range []string{"ValueError", "KeyError", "TypeError", "IndexError", "RuntimeError",
					"AttributeError", "NotImplementedError", "ZeroDivisionError", "OSError"} {
					_, err := root.CallMethod(ctx, "raise_error", name, "msg")
					pe := pyErr(t, err, name)
					require.Equal(t, codec.Tuple{"msg"}, pe.Args)
				}
				_, err := root.CallMethod(ctx, "raise_error", "StopIteration", "msg")
				require.ErrorIs(t, err, codec.ErrStopIteration)
				for _, name := range []string{"Exception", "SystemExit", "nope"} {
					_, err := root.CallMethod(ctx, "raise_error", name, "m")
					pyErr(t, err, "ValueError")
				}
			})

			t.Run("call", func(t *testing.T) {
				add := func(a, b int64) int64 { return a + b }
				require.Equal(t, int64(5), call(t, root, "call", add, int64(2), int64(3)))
				kw, err := root.CallMethodKw(ctx, "call", []any{func(kw netref.Kwargs) codec.Tuple {
					v, _ := kw.Get("x")
					return codec.Tuple{int64(len(kw)), v}
				}}, []netref.Kwarg{{Name: "x", Value: "y"}})
				require.NoError(t, err)
				require.Equal(t, codec.Tuple{int64(1), "y"}, kw)
				_, err = root.CallMethod(ctx, "call", func() error { return codec.NewPyError("KeyError", "boom") })
				pe := pyErr(t, err, "KeyError")
				require.Equal(t, codec.Tuple{"boom"}, pe.Args)
				// The callback calls back into the server.
				require.Equal(t, int64(42), call(t, root, "call", func(ctx context.Context, x int64) (any, error) {
					return root.CallMethod(ctx, "add", x, int64(1))
				}, int64(41)))
			})

			t.Run("map", func(t *testing.T) {
				double := func(x int64) int64 { return 2 * x }
				require.Equal(t, codec.Tuple{int64(2), int64(4), int64(6)}, call(t, root, "map", double, codec.Tuple{int64(1), int64(2), int64(3)}))
			})

			t.Run("sum", func(t *testing.T) {
				require.Equal(t, int64(6), call(t, root, "sum", codec.Tuple{int64(1), int64(2), int64(3)}))
				require.Equal(t, 3.5, call(t, root, "sum", codec.Tuple{int64(1), 2.5}))
				// Go iterables by reference: a slice (builtins.list) and an iterator.
				require.Equal(t, int64(10), call(t, root, "sum", []int64{1, 2, 3, 4}))
				var seq iter.Seq[any] = func(yield func(any) bool) {
					for i := range 5 {
						if !yield(int64(i)) {
							return
						}
					}
				}
				require.Equal(t, int64(10), call(t, root, "sum", seq))
				require.Equal(t, bigInt("36893488147419103232"), call(t, root, "sum", []*big.Int{bigInt("18446744073709551616"), bigInt("18446744073709551616")}))
			})

			t.Run("length", func(t *testing.T) {
				require.Equal(t, int64(5), call(t, root, "length", "héllo"))
				require.Equal(t, int64(2), call(t, root, "length", []byte("hé")[:2]))
				require.Equal(t, int64(3), call(t, root, "length", []string{"a", "b", "c"}))
				require.Equal(t, int64(1), call(t, root, "length", map[string]int{"a": 1}))
				_, err := root.CallMethod(ctx, "length", int64(5))
				pyErr(t, err, "TypeError")
			})

			t.Run("kwargs", func(t *testing.T) {
				v, err := root.CallMethodKw(ctx, "kwargs", nil, []netref.Kwarg{{Name: "b", Value: int64(1)}, {Name: "é", Value: int64(2)}, {Name: "a", Value: int64(3)}, {Name: "Z", Value: nil}})
				require.NoError(t, err)
				require.Equal(t, codec.Tuple{codec.Tuple{"Z", nil}, codec.Tuple{"a", int64(3)}, codec.Tuple{"b", int64(1)}, codec.Tuple{"é", int64(2)}}, v)
			})

			t.Run("sleep", func(t *testing.T) {
				require.Equal(t, 0.01, call(t, root, "sleep", 0.01))
				start := time.Now()
				r1, err := root.CallMethodAsync("sleep", 1.0)
				require.NoError(t, err)
				r2, err := root.CallMethodAsync("sleep", int64(1))
				require.NoError(t, err)
				require.Equal(t, "fast", call(t, root, "echo", "fast"))
				require.Less(t, time.Since(start), 800*time.Millisecond, "echo waited for sleep")
				v1, err := r1.Result(ctx)
				require.NoError(t, err)
				v2, err := r2.Result(ctx)
				require.NoError(t, err)
				require.Equal(t, 1.0, v1)
				require.Equal(t, int64(1), v2)
				require.Less(t, time.Since(start), 1800*time.Millisecond, "sleeps were serialized")
			})

			t.Run("blob", func(t *testing.T) {
				b := call(t, root, "blob", int64(100000)).([]byte)
				require.Len(t, b, 100000)
				for i, x := range b {
					if x != byte(i) {
						t.Fatalf("blob[%d] = %d", i, x)
					}
				}
				_, err := root.CallMethod(ctx, "blob", int64(-1))
				pyErr(t, err, "ValueError")
			})

			t.Run("Counter", func(t *testing.T) {
				cls, err := root.GetAttr(ctx, "Counter")
				require.NoError(t, err)
				counter, err := cls.(*netref.Proxy).Call(ctx, int64(5))
				require.NoError(t, err)
				cp := counter.(*netref.Proxy)
				require.Equal(t, int64(6), call(t, cp, "incr"))
				v, err := cp.CallMethodKw(ctx, "incr", nil, []netref.Kwarg{{Name: "by", Value: int64(4)}})
				require.NoError(t, err)
				require.Equal(t, int64(10), v)
				val, err := cp.GetAttr(ctx, "value")
				require.NoError(t, err)
				require.Equal(t, int64(10), val)
				s, err := cp.Str(ctx)
				require.NoError(t, err)
				require.Equal(t, "Counter(10)", s)
				call(t, cp, "reset")
				val, err = cp.GetAttr(ctx, "value")
				require.NoError(t, err)
				require.Equal(t, int64(0), val)
				c2, err := cls.(*netref.Proxy).CallKw(ctx, nil, []netref.Kwarg{{Name: "start", Value: int64(7)}})
				require.NoError(t, err)
				val, err = c2.(*netref.Proxy).GetAttr(ctx, "value")
				require.NoError(t, err)
				require.Equal(t, int64(7), val)
			})

			t.Run("mapping", func(t *testing.T) {
				m := call(t, root, "mapping").(*netref.Proxy)
				v, err := m.GetItem(ctx, "a")
				require.NoError(t, err)
				require.Equal(t, int64(1), v)
				n, err := m.Len(ctx)
				require.NoError(t, err)
				require.Equal(t, 3, n)
				in, err := m.Contains(ctx, "b")
				require.NoError(t, err)
				require.True(t, in)
				var keys []any
				for k, err := range m.Iter(ctx) {
					require.NoError(t, err)
					keys = append(keys, k)
				}
				require.Equal(t, []any{"a", "b", "c"}, keys)
				require.Equal(t, int64(0), call(t, m, "get", "z", int64(0)))
				require.Nil(t, call(t, m, "get", "z"))
				_, err = m.GetItem(ctx, "z")
				pyErr(t, err, "KeyError")
				pyErr(t, m.SetItem(ctx, "a", int64(2)), "TypeError")
			})

			t.Run("live_objects", func(t *testing.T) {
				// A connection of its own: proxies left over by other
				// subtests would be released at random moments.
				root := rootOf(t, tr.dial(t, services.Conformance()))
				base := call(t, root, "live_objects").(int64)
				require.Equal(t, int64(1), base, "the root only")
				var ps []*netref.Proxy
				for range 4 {
					ps = append(ps, call(t, root, "mapping").(*netref.Proxy))
				}
				require.Equal(t, base+4, call(t, root, "live_objects"))
				for _, p := range ps {
					require.NoError(t, p.Close())
				}
				require.Equal(t, base, call(t, root, "live_objects"))
			})

			t.Run("peer_call", func(t *testing.T) {
				require.Equal(t, "hello go", call(t, root, "peer_call", "hello", "go"))
				require.Equal(t, "HELLO", call(t, root, "peer_call", "get_service_name"))
				_, err := root.CallMethod(ctx, "peer_call", "nosuch")
				pyErr(t, err, "AttributeError")
			})

			t.Run("identity", func(t *testing.T) {
				id := call(t, root, "connection_id")
				n, ok := id.(int64)
				require.True(t, ok, "connection_id is %T", id)
				require.Positive(t, n)
				require.Equal(t, id, call(t, root, "connection_id"))
				require.Equal(t, int64(os.Getpid()), call(t, root, "pid"))
			})

			t.Run("secret", func(t *testing.T) {
				_, err := root.GetAttr(ctx, "secret")
				pyErr(t, err, "AttributeError")
				_, err = root.CallMethod(ctx, "secret")
				pyErr(t, err, "AttributeError")
				pyErr(t, root.SetAttr(ctx, "version", "x"), "AttributeError")
				pyErr(t, root.DelAttr(ctx, "version"), "AttributeError")
			})

			t.Run("ping", func(t *testing.T) {
				require.NoError(t, c.Ping(ctx))
				v, err := c.Request(ctx, 99)
				require.Error(t, err)
				require.Nil(t, v)
				require.Equal(t, int64(1), call(t, root, "echo", int64(1)))
			})
		})
	}
}

// TestGoClientEvents: fire's requests arrive in order at a Go client that
// serves requests serially.
func TestGoClientEvents(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.dial(t, services.Conformance(), conn.WithExecutor(dispatch.NewSerial(nil)))
			root := rootOf(t, c)
			events := make(chan codec.Tuple, 100)
			cb := func(i int64, payload any) { events <- codec.Tuple{i, payload} }
			require.Nil(t, call(t, root, "subscribe", cb))
			require.Equal(t, int64(50), call(t, root, "fire", int64(50), "p"))
			for i := range int64(50) {
				select {
				case e := <-events:
					require.Equal(t, codec.Tuple{i, "p"}, e)
				case <-time.After(10 * time.Second):
					t.Fatalf("event %d did not arrive", i)
				}
			}
			require.Nil(t, call(t, root, "subscribe", nil))
			require.Equal(t, int64(3), call(t, root, "fire", int64(3), "p"))
			require.Equal(t, int64(1), call(t, root, "echo", int64(1)))
			select {
			case e := <-events:
				t.Fatalf("unexpected event %v", e)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestGoNestedCallbacks: Go client → Go server → Go client → ... many
// levels deep on one connection.
func TestGoNestedCallbacks(t *testing.T) {
	const depth = 16
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.dial(t, services.Conformance())
			root := rootOf(t, c)
			var deep func(ctx context.Context, n int64) (int64, error)
			deep = func(ctx context.Context, n int64) (int64, error) {
				if n == 0 {
					v, err := root.CallMethod(ctx, "add", int64(0), int64(0))
					if err != nil {
						return 0, err
					}
					return v.(int64), nil
				}
				v, err := root.CallMethod(ctx, "call", deep, n-1)
				if err != nil {
					return 0, err
				}
				return v.(int64) + 1, nil
			}
			require.Equal(t, int64(depth), call(t, root, "call", deep, int64(depth)))

			// An error deep down comes back up as the same class.
			var failing func(ctx context.Context, n int64) (int64, error)
			failing = func(ctx context.Context, n int64) (int64, error) {
				if n == 0 {
					return 0, codec.NewPyError("IndexError", "bottom")
				}
				v, err := root.CallMethod(ctx, "call", failing, n-1)
				if err != nil {
					return 0, err
				}
				return v.(int64), nil
			}
			_, err := root.CallMethod(testCtx(t), "call", failing, int64(5))
			pe := pyErr(t, err, "IndexError")
			require.Equal(t, codec.Tuple{"bottom"}, pe.Args)
		})
	}
}

// TestGoConcurrentCalls: many goroutines share one connection.
func TestGoConcurrentCalls(t *testing.T) {
	const goroutines, calls = 64, 20
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.dial(t, services.Conformance())
			root := rootOf(t, c)
			ctx := testCtx(t)
			counter, err := root.GetAttr(ctx, "Counter")
			require.NoError(t, err)
			cnt, err := counter.(*netref.Proxy).Call(ctx)
			require.NoError(t, err)
			cp := cnt.(*netref.Proxy)
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range calls {
						want := int64(g*1000 + i)
						v, err := root.CallMethod(ctx, "add", int64(g*1000), int64(i))
						if err == nil && v != want {
							err = fmt.Errorf("add = %v, want %d", v, want)
						}
						if err == nil {
							_, err = cp.CallMethod(ctx, "incr")
						}
						if err == nil && i%10 == 0 {
							_, err = root.CallMethod(ctx, "call", func(x int64) int64 { return x }, want)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			v, err := cp.GetAttr(ctx, "value")
			require.NoError(t, err)
			require.Equal(t, int64(goroutines*calls), v)
		})
	}
}

// TestGoClientTimeout: a context deadline ends a call with a timeout error
// that is a net.Error; the connection goes on.
func TestGoClientTimeout(t *testing.T) {
	c := dialTCP(t, services.Conformance())
	root := rootOf(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := root.CallMethod(ctx, "sleep", 1.0)
	var te *dispatch.TimeoutError
	require.ErrorAs(t, err, &te)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.Equal(t, int64(2), call(t, root, "echo", int64(2)))
}

// TestServerCloseEndsConnection: CLOSE from the client ends the server's
// ServeNetConn.
func TestServerCloseEndsConnection(t *testing.T) {
	srvPipe, cliPipe := net.Pipe()
	srv, cli := newAsyncWriter(srvPipe), newAsyncWriter(cliPipe)
	done := make(chan error, 1)
	go func() { done <- conn.ServeNetConn(srv, services.Conformance()) }()
	c, err := conn.NewNetConn(cli, nil)
	require.NoError(t, err)
	require.Equal(t, "CONFORMANCE", call(t, rootOf(t, c), "get_service_name"))
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ServeNetConn did not return after CLOSE")
	}
}

// asyncWriter is a net.Conn whose writes are queued and written by a
// goroutine of its own, giving an in-memory pipe the buffering a socket has.
type asyncWriter struct {
	net.Conn
	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
	err    error
}

func newAsyncWriter(c net.Conn) *asyncWriter {
	w := &asyncWriter{Conn: c}
	w.cond = sync.NewCond(&w.mu)
	go w.loop()
	return w
}

func (w *asyncWriter) loop() {
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		b := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		if _, err := w.Conn.Write(b); err != nil {
			w.mu.Lock()
			w.err = err
			w.queue = nil
			w.mu.Unlock()
			return
		}
	}
}

func (w *asyncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, net.ErrClosed
	}
	w.queue = append(w.queue, append([]byte(nil), b...))
	w.cond.Signal()
	return len(b), nil
}

func (w *asyncWriter) Close() error {
	w.mu.Lock()
	w.closed = true
	w.cond.Signal()
	w.mu.Unlock()
	// Let queued frames (a CLOSE) go out before the pipe closes.
	go func() {
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			w.mu.Lock()
			n := len(w.queue)
			w.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.Conn.Close()
	}()
	return nil
}
