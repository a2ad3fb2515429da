//go:build linux

package reactor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

// engineNames are the engines every transport test runs over.
var engineNames = []string{reactor.EngineGnet, reactor.EngineNetpoll, reactor.EngineStdnet}

// transport is a network every transport test runs over.
type transport struct {
	name    string
	network string
	addr    func(t testing.TB) string
}

var transports = []transport{
	{"tcp4", "tcp4", func(testing.TB) string { return "127.0.0.1:0" }},
	{"tcp6", "tcp6", func(t testing.TB) string { requireIPv6(t); return "[::1]:0" }},
	{"unix", "unix", func(t testing.TB) string { return filepath.Join(t.TempDir(), "r.sock") }},
}

var ipv6 struct {
	once sync.Once
	err  error
}

// requireIPv6 fails the test, clearly, when the IPv6 loopback is missing.
func requireIPv6(t testing.TB) {
	t.Helper()
	ipv6.once.Do(func() {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err == nil {
			_ = ln.Close()
		}
		ipv6.err = err
	})
	require.NoError(t, ipv6.err, "the IPv6 loopback [::1] is not available on this machine")
}

// newEngine makes an engine closed at the end of the test.
func newEngine(t testing.TB, name string, cfg reactor.Config) reactor.Engine {
	t.Helper()
	e, err := reactor.New(name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// eventually polls cond every 5ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is an echo server handler that counts its events per
// connection. Hooks change what it does with a frame.
type recorder struct {
	mu       sync.Mutex
	opens    int
	closes   map[reactor.Conn]int
	closeErr map[reactor.Conn]error
	conns    []reactor.Conn
	openErr  error
	onFrame  func(c reactor.Conn, frame []byte) error // nil: echo
	onOpen   func(c reactor.Conn)
	closedCh chan reactor.Conn
}

func newRecorder() *recorder {
	return &recorder{
		closes:   make(map[reactor.Conn]int),
		closeErr: make(map[reactor.Conn]error),
		closedCh: make(chan reactor.Conn, 100000),
	}
}

func (r *recorder) OnOpen(c reactor.Conn) error {
	c.SetContext(&frames{})
	r.mu.Lock()
	r.opens++
	r.conns = append(r.conns, c)
	err := r.openErr
	r.mu.Unlock()
	if r.onOpen != nil {
		r.onOpen(c)
	}
	return err
}

func (r *recorder) OnData(c reactor.Conn, p []byte) error {
	return c.Context().(*frames).feed(p, func(frame []byte) error {
		if r.onFrame != nil {
			return r.onFrame(c, frame)
		}
		return c.Write(frame)
	})
}

func (r *recorder) OnClose(c reactor.Conn, err error) {
	r.mu.Lock()
	r.closes[c]++
	r.closeErr[c] = err
	r.mu.Unlock()
	r.closedCh <- c
}

func (r *recorder) counts() (opens, closed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens, len(r.closes)
}

// requireClosedOnce checks that every opened connection got exactly one
// OnClose.
func (r *recorder) requireClosedOnce(t testing.TB) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { o, c := r.counts(); return o == c },
		"every opened connection gets OnClose")
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.closes, len(r.conns))
	for _, c := range r.conns {
		require.Equal(t, 1, r.closes[c], "OnClose count of %v", c.RemoteAddr())
	}
}

// noise is random bytes that frame bodies are cut from.
var noise = func() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}()

// randomFrames returns the stream of n frames of random bodies, mostly
// small, some empty, some past 64 KiB.
func randomFrames(rng *rand.Rand, n int) []byte {
	var stream []byte
	for range n {
		size := rng.IntN(1024)
		switch rng.IntN(100) {
		case 0:
			size = 64<<10 + rng.IntN(8<<10)
		case 1, 2:
			size = 0
		}
		off := rng.IntN(len(noise) - size)
		stream = appendFrame(stream, noise[off:off+size])
	}
	return stream
}

// writeSplit writes stream in chunks cut at random points: some chunks
// end inside a frame, some hold many frames.
func writeSplit(w io.Writer, rng *rand.Rand, stream []byte) error {
	for len(stream) > 0 {
		n := 1 + rng.IntN(min(len(stream), 3000))
		if rng.IntN(8) == 0 {
			n = min(len(stream), 1+rng.IntN(40000))
		}
		if _, err := w.Write(stream[:n]); err != nil {
			return err
		}
		stream = stream[n:]
	}
	return nil
}

// echoRoundTrip sends stream over nc cut at random points and checks that
// the same bytes come back.
func echoRoundTrip(nc net.Conn, rng *rand.Rand, stream []byte) error {
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() { werr <- writeSplit(nc, rng, stream) }()
	got := make([]byte, len(stream))
	if _, err := io.ReadFull(nc, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, stream) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// collector is a client handler that gathers the echoed stream.
type collector struct {
	mu   sync.Mutex
	buf  []byte
	want int
	done chan struct{}
	once sync.Once
}

func newCollector(want int) *collector {
	return &collector{want: want, done: make(chan struct{})}
}

func (cl *collector) OnOpen(reactor.Conn) error { return nil }

func (cl *collector) OnData(_ reactor.Conn, p []byte) error {
	cl.mu.Lock()
	cl.buf = append(cl.buf, p...)
	full := len(cl.buf) >= cl.want
	cl.mu.Unlock()
	if full {
		cl.once.Do(func() { close(cl.done) })
	}
	return nil
}

func (cl *collector) OnClose(reactor.Conn, error) {
	cl.once.Do(func() { close(cl.done) })
}

func (cl *collector) bytes() []byte {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]byte(nil), cl.buf...)
}

// goroutines counts the goroutines of the process.
func goroutines() int { return runtime.NumGoroutine() }

// requireGoroutinesAtMost waits (bounded) for the goroutine count to drop
// to limit, and dumps the goroutines if it does not.
func requireGoroutinesAtMost(t testing.TB, limit int, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for goroutines() > limit {
		if time.Now().After(deadline) {
			var sb strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
			t.Fatalf("%s: %d goroutines, want at most %d\n%s", what, goroutines(), limit, sb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// warmUp starts what lives for the whole process (netpoll's pollers) so
// that goroutine counts taken afterwards see only an engine's own.
func warmUp(t testing.TB) {
	t.Helper()
	e, err := reactor.New(reactor.EngineNetpoll, reactor.Config{})
	require.NoError(t, err)
	ln, err := e.Listen("tcp4", "127.0.0.1:0", newRecorder())
	require.NoError(t, err)
	c, err := e.Dial(context.Background(), "tcp4", ln.Addr().String(), newCollector(0))
	require.NoError(t, err)
	_ = c.Close()
	require.NoError(t, e.Close())
}

// frameLen returns the body length of the frame at the start of b.
func frameLen(b []byte) int { return int(binary.BigEndian.Uint32(b)) }
