package servers

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Limits of the servers the hostile clients attack: small enough that a
// zlib bomb crosses them at once, large enough for a frame of a million
// nested tuples.
const (
	hostileMaxFrame        = 2 << 20
	hostileMaxDecompressed = 64 << 10
)

// Box labels of PROTOCOL.md §6.1 as the server receives them.
const (
	boxValue    = 1
	boxTuple    = 2
	boxLocalRef = 3 // an object of the server's
)

// rawFrame frames payload without compression.
func rawFrame(payload []byte) []byte {
	var enc codec.FrameEncoder // the zero value never compresses
	b, err := enc.AppendFrame(nil, payload)
	if err != nil {
		panic(err)
	}
	return b
}

// frameHeader is a frame header announcing n body bytes.
func frameHeader(n uint32, flag byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), flag)
}

// boxedArgs is the boxed tuple of already boxed items.
func boxedArgs(items ...[]byte) []byte {
	b := codec.AppendTupleHeader(nil, 2)
	b = codec.AppendInt(b, boxTuple)
	b = codec.AppendTupleHeader(b, len(items))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

// boxedValue boxes a plain value.
func boxedValue(v any) []byte {
	b := codec.AppendTupleHeader(nil, 2)
	b = codec.AppendInt(b, boxValue)
	b, err := codec.Append(b, v)
	if err != nil {
		panic(err)
	}
	return b
}

// boxedRef boxes a reference to the server's object id.
func boxedRef(name string, class, instance int64) []byte {
	b := codec.AppendTupleHeader(nil, 2)
	b = codec.AppendInt(b, boxLocalRef)
	b = codec.AppendTupleHeader(b, 3)
	b = codec.AppendStr(b, name)
	b = codec.AppendInt(b, class)
	return codec.AppendInt(b, instance)
}

// requestPayload is a request of handler with boxed args in layout f.
func requestPayload(f codec.Format, seq int64, handler int64, boxed []byte) []byte {
	b := codec.AppendMessageHeader(nil, f, codec.MsgRequest, seq)
	b = codec.AppendTupleHeader(b, 2)
	b = codec.AppendInt(b, handler)
	return append(b, boxed...)
}

// pingFrame is a 5.x PING request.
func pingFrame(seq int64, data string) []byte {
	return rawFrame(requestPayload(codec.FormatV5, seq, netref.HandlePing, boxedArgs(boxedValue(data))))
}

// zlibBomb1M is a compressed frame (about 1 KiB) of a mebibyte of zeros,
// 16 times the servers' limit.
var zlibBomb1M = sync.OnceValue(func() []byte { return zlibBomb(1 << 20) })

// zlibBomb is a compressed frame of n zero bytes.
func zlibBomb(n int) []byte {
	var body bytes.Buffer
	w := zlib.NewWriter(&body)
	_, _ = w.Write(make([]byte, n))
	_ = w.Close()
	b := frameHeader(uint32(body.Len()), 1)
	b = append(b, body.Bytes()...)
	return append(b, codec.FrameTrailer)
}

// rawClient is a TCP client that speaks bytes, not RPyC.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	dec *codec.FrameDecoder
	got [][]byte // payloads read and not yet taken
}

func dialRaw(t *testing.T, srv Server) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc, dec: codec.NewFrameDecoder(codec.FrameLimits{})}
}

// send writes b; the server may already have closed the connection, so
// write errors are not the test's concern.
func (r *rawClient) send(b []byte) {
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = r.nc.Write(b)
}

// next reads the next message the server sends (within a deadline); ok is
// false when the connection ended first.
func (r *rawClient) next() (msg uint8, seq int64, args any, ok bool) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for len(r.got) == 0 {
		n, err := r.nc.Read(buf)
		if n > 0 {
			require.NoError(r.t, r.dec.Feed(buf[:n], func(p []byte) error {
				r.got = append(r.got, append([]byte(nil), p...))
				return nil
			}))
		}
		if err != nil && len(r.got) == 0 {
			var ne net.Error
			require.False(r.t, errors.As(err, &ne) && ne.Timeout(), "server neither answered nor closed")
			return 0, 0, nil, false
		}
	}
	p := r.got[0]
	r.got = r.got[1:]
	var d codec.Decoder
	msg, seq, args, err := d.DecodeMessage(p, codec.FormatV5)
	require.NoError(r.t, err)
	return msg, seq, args, true
}

// reply reads messages until the answer to seq (skipping the server's own
// requests, which a hostile client never answers).
func (r *rawClient) reply(seq int64) (msg uint8, args any) {
	r.t.Helper()
	for range 100 {
		m, s, a, ok := r.next()
		require.True(r.t, ok, "connection closed before the answer to seq %d", seq)
		if m != codec.MsgRequest && s == seq {
			return m, a
		}
	}
	r.t.Fatalf("no answer to seq %d", seq)
	return 0, nil
}

// requireClosed reads until the server closes the connection, failing if
// it answers a request meanwhile (a CLOSE request of the server's is fine).
func (r *rawClient) requireClosed() {
	r.t.Helper()
	for range 100 {
		m, _, _, ok := r.next()
		if !ok {
			return
		}
		require.Equal(r.t, codec.MsgRequest, m, "server answered instead of closing")
	}
	r.t.Fatal("connection not closed")
}

// requireAlive checks that the connection still answers a PING.
func (r *rawClient) requireAlive(seq int64) {
	r.t.Helper()
	r.send(pingFrame(seq, "alive"))
	m, a := r.reply(seq)
	require.Equal(r.t, codec.MsgReply, m, "PING not answered: %v", a)
}

// requireException reads the answer to seq and checks that it is an
// exception of class cls.
func (r *rawClient) requireException(seq int64, cls string) {
	r.t.Helper()
	m, a := r.reply(seq)
	require.Equal(r.t, codec.MsgException, m, "answer: %v", a)
	err := codec.LoadError(a)
	var pe *codec.PyError
	require.ErrorAs(r.t, err, &pe)
	require.Equal(r.t, cls, pe.Class, "%v", err)
}

// hostileCase is one attack on a connection of its own.
type hostileCase struct {
	name string
	run  func(r *rawClient)
}

func closes(frames ...[]byte) func(r *rawClient) {
	return func(r *rawClient) {
		for _, f := range frames {
			r.send(f)
		}
		r.requireClosed()
	}
}

func hostileCases() []hostileCase {
	v5Msg := func(args ...byte) []byte { // (1, 1, <args>)
		return rawFrame(append(codec.AppendMessageHeader(nil, codec.FormatV5, codec.MsgRequest, 1), args...))
	}
	deep := append(codec.AppendMessageHeader(nil, codec.FormatV5, codec.MsgRequest, 1), bytes.Repeat([]byte{codec.TagTup1}, 1<<20)...)
	deep = append(deep, codec.TagNone)
	unknownType := codec.AppendTupleHeader(nil, 3)
	unknownType = codec.AppendInt(unknownType, 7)
	unknownType = codec.AppendInt(unknownType, 1)
	unknownType = append(unknownType, boxedArgs()...)
	replyNeverAsked := codec.AppendMessageHeader(nil, codec.FormatV5, codec.MsgReply, 424242)
	replyNeverAsked = append(replyNeverAsked, boxedValue("unasked")...)
	excNeverAsked := codec.AppendMessageHeader(nil, codec.FormatV5, codec.MsgException, 434343)
	excNeverAsked = append(excNeverAsked, codec.TagNone)

	return []hostileCase{
		{"garbage", closes(bytes.Repeat([]byte{0xF0, 0x9F, 0x92, 0xA9, 0x00, 0x13, 0x37}, 200))},
		{"http", closes([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
		{"garbage-payload", closes(rawFrame([]byte{0xF0, 0xF1, 0xF2}))},
		{"truncated-then-close", func(r *rawClient) {
			f := pingFrame(1, "truncated")
			r.send(f[:len(f)/2])
			_ = r.nc.(*net.TCPConn).CloseWrite()
			r.requireClosed()
		}},
		{"length-0xFFFFFFFF", closes(append(frameHeader(0xFFFFFFFF, 0), 1, 2, 3))},
		{"length-over-limit", closes(frameHeader(hostileMaxFrame+1, 0))},
		{"zlib-bomb", closes(zlibBomb1M())},
		{"corrupt-zlib", closes(append(append(frameHeader(5, 1), 1, 2, 3, 4, 5), codec.FrameTrailer))},
		{"unknown-tag", closes(v5Msg(0x1F))},
		{"unknown-tag-high", closes(v5Msg(codec.TagTup1+1, 0x22, 0xFE))},
		{"absurd-str-length", closes(v5Msg(append([]byte{codec.TagStrL4}, 0x7F, 0xFF, 0xFF, 0xFF, 'x')...))},
		{"absurd-tuple-length", closes(v5Msg(codec.TagTupL4, 0xFF, 0xFF, 0xFF, 0xFF, codec.TagNone))},
		{"absurd-int-length", closes(v5Msg(codec.TagIntL4, 0xFF, 0xFF, 0xFF, 0xF0, '1'))},
		{"deep-nesting", closes(rawFrame(deep))},
		{"invalid-utf8", closes(v5Msg(codec.TagTup1+1, 0x21, codec.TagTup1, codec.TagUnicode, codec.TagStr1+1, 0xFF, 0xFE))},
		{"unknown-message-type", closes(rawFrame(unknownType))},
		{"unknown-handler", func(r *rawClient) {
			r.send(rawFrame(requestPayload(codec.FormatV5, 5, 99, boxedArgs())))
			r.requireException(5, "KeyError")
			r.send(rawFrame(requestPayload(codec.FormatV5, 6, -1, boxedArgs())))
			r.requireException(6, "KeyError")
			r.requireAlive(7)
		}},
		{"reply-to-unsent-seq", func(r *rawClient) {
			r.send(rawFrame(replyNeverAsked))
			r.send(rawFrame(excNeverAsked))
			r.requireAlive(8)
		}},
		{"del-unknown-object", func(r *rawClient) {
			r.send(rawFrame(requestPayload(codec.FormatV5, 9, netref.HandleDel,
				boxedArgs(boxedRef("builtins.object", 12345, 67890), boxedValue(int64(1))))))
			r.requireException(9, "KeyError")
			r.requireAlive(10)
		}},
		{"del-negative-count", func(r *rawClient) {
			// The root, sent once by GETROOT, is the object DEL names.
			r.send(rawFrame(requestPayload(codec.FormatV5, 11, netref.HandleGetRoot, boxedArgs())))
			m, a := r.reply(11)
			require.Equal(r.t, codec.MsgReply, m, "GETROOT: %v", a)
			ref, ok := a.(codec.Tuple)
			require.True(r.t, ok && len(ref) == 2, "GETROOT reply %v", a)
			id, err := netref.ParseIDPack(ref[1])
			require.NoError(r.t, err, "GETROOT reply %v", a)
			for i, n := range []int64{-1, -1 << 40, 0} {
				seq := int64(12 + i)
				r.send(rawFrame(requestPayload(codec.FormatV5, seq, netref.HandleDel,
					boxedArgs(boxedRef(id.Name, id.Class, id.Instance), boxedValue(n)))))
				r.requireException(seq, "ValueError")
			}
			r.requireAlive(20)
		}},
		{"v6-frame-on-v5-connection", func(r *rawClient) {
			r.requireAlive(21)
			r.send(rawFrame(requestPayload(codec.FormatV6, 22, netref.HandlePing, boxedArgs(boxedValue("v6")))))
			r.requireClosed()
		}},
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// goodClient calls the server in a loop until stopped, counting calls and
// remembering the first failure.
type goodClient struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
	stop  chan struct{}
	done  chan struct{}
}

func startGoodClient(t *testing.T, srv Server) *goodClient {
	c := dial(t, srv)
	require.Equal(t, "first", call(t, c, "echo", "first"))
	g := &goodClient{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for i := int64(0); ; i++ {
			select {
			case <-g.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := c.Call(ctx, "echo", i)
			cancel()
			if err == nil && v != i {
				err = errors.New("wrong echo")
			}
			if err != nil {
				g.mu.Lock()
				g.err = err
				g.mu.Unlock()
				return
			}
			g.calls.Add(1)
		}
	}()
	t.Cleanup(g.finish)
	return g
}

func (g *goodClient) finish() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// waitCalls waits until the good client has made n more calls, so an
// attack overlaps its traffic.
func (g *goodClient) waitCalls(t *testing.T, n int64) {
	t.Helper()
	target := g.calls.Load() + n
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.err != nil || g.calls.Load() >= target
	}, 10*time.Second, time.Millisecond)
	g.mu.Lock()
	defer g.mu.Unlock()
	require.NoError(t, g.err, "the well-behaved client was not served")
}

// TestHostileInput attacks every engine and in-process policy with raw
// clients sending what no RPyC peer sends. Each attack costs only its own
// connection (an exception reply, or the connection closed); a
// well-behaved client calling all along is served throughout, and the
// server's heap returns near its baseline afterwards.
func TestHostileInput(t *testing.T) {
	limits := WithProtocol(conn.WithLimits(codec.FrameLimits{MaxFrame: hostileMaxFrame, MaxDecompressed: hostileMaxDecompressed}))
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		for _, p := range []struct {
			name string
			mk   func(conn.Service, ...Option) Server
		}{{"threadpool", NewThreadPool}, {"threaded", NewThreaded}} {
			t.Run(p.name+"/"+e, func(t *testing.T) {
				srv := start(t, p.mk(svc(), WithEngine(e), WithLogger(testLogger(t)), limits))
				rs := srv.(*reactorServer)
				good := startGoodClient(t, srv)
				good.waitCalls(t, 10)
				base := heapInUse()
				for _, hc := range hostileCases() {
					t.Run(hc.name, func(t *testing.T) {
						r := dialRaw(t, srv)
						hc.run(r)
						_ = r.nc.Close()
						good.waitCalls(t, 5)
						require.Eventually(t, func() bool { return rs.nconns.Load() == 1 }, 10*time.Second, time.Millisecond,
							"the attacker's connection was not released (%d connections)", rs.nconns.Load())
					})
				}
				// Everything again, all at once.
				var wg sync.WaitGroup
				for _, hc := range hostileCases() {
					wg.Go(func() {
						r := dialRaw(t, srv)
						defer r.nc.Close()
						hc.run(r)
					})
				}
				wg.Wait()
				good.waitCalls(t, 10)
				require.Eventually(t, func() bool { return rs.nconns.Load() == 1 }, 10*time.Second, time.Millisecond)
				good.finish()
				c := dial(t, srv)
				require.Equal(t, "after", call(t, c, "echo", "after"))
				after := heapInUse()
				t.Logf("heap: baseline %d KiB, after %d KiB, good calls %d", base>>10, after>>10, good.calls.Load())
				require.Less(t, int64(after)-int64(base), int64(8<<20), "heap grew by %d KiB", (int64(after)-int64(base))>>10)
			})
		}
	}
}

// TestHostileInputProcessPool runs the attacks once against a process
// pool: the workers hold the connections, the master keeps serving.
func TestHostileInputProcessPool(t *testing.T) {
	limits := WithProtocol(conn.WithLimits(codec.FrameLimits{MaxFrame: hostileMaxFrame, MaxDecompressed: hostileMaxDecompressed}))
	srv := start(t, NewProcessPool(svc(), WithEngine("gnet"), WithWorkers(2), WithLogger(testLogger(t)), limits))
	good := startGoodClient(t, srv)
	for _, hc := range hostileCases() {
		t.Run(hc.name, func(t *testing.T) {
			r := dialRaw(t, srv)
			hc.run(r)
			_ = r.nc.Close()
			good.waitCalls(t, 5)
		})
	}
	good.finish()
	c := dial(t, srv)
	require.Equal(t, "after", call(t, c, "echo", "after"))
}
