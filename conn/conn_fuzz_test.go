package conn_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// memTransport records what a connection writes and signals each write.
type memTransport struct {
	mu     sync.Mutex
	out    []byte
	closed bool
	wrote  chan struct{}
}

func newMemTransport() *memTransport { return &memTransport{wrote: make(chan struct{}, 1)} }

func (t *memTransport) Write(b []byte) error {
	t.mu.Lock()
	if len(t.out) < 8<<20 { // a bound: the fuzzer's replies are not kept forever
		t.out = append(t.out, b...)
	}
	t.mu.Unlock()
	select {
	case t.wrote <- struct{}{}:
	default:
	}
	return nil
}

func (t *memTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}

// answered reports whether the output holds a reply to seq.
func (t *memTransport) answered(seq int64) bool {
	t.mu.Lock()
	out := append([]byte(nil), t.out...)
	t.mu.Unlock()
	found := false
	_ = codec.NewFrameDecoder(codec.FrameLimits{}).Feed(out, func(p []byte) error {
		f, err := codec.DetectFormat(p)
		if err != nil {
			return nil
		}
		var d codec.Decoder
		m, s, _, err := d.DecodeMessage(p, f)
		if err == nil && m == codec.MsgReply && s == seq {
			found = true
		}
		return nil
	})
	return found
}

func fuzzFrame(payload []byte) []byte {
	var enc codec.FrameEncoder // never compresses
	b, err := enc.AppendFrame(nil, payload)
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzRequest is a request payload: handler with already boxed items.
func fuzzRequest(f codec.Format, seq, handler int64, items ...[]byte) []byte {
	b := codec.AppendMessageHeader(nil, f, codec.MsgRequest, seq)
	b = codec.AppendTupleHeader(b, 2)
	b = codec.AppendInt(b, handler)
	b = codec.AppendTupleHeader(b, 2)
	b = codec.AppendInt(b, 2) // boxed tuple
	b = codec.AppendTupleHeader(b, len(items))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func fuzzValue(v any) []byte {
	b := codec.AppendTupleHeader(nil, 2)
	b = codec.AppendInt(b, 1) // boxed value
	b, err := codec.Append(b, v)
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzRootRef is the server's root as the peer sends it back: the first
// object a connection exports is class 1, instance 1.
func fuzzRootRef() []byte {
	b := codec.AppendTupleHeader(nil, 2)
	b = codec.AppendInt(b, 3) // local ref of the receiver
	b = codec.AppendTupleHeader(b, 3)
	b = codec.AppendStr(b, "rpycgo.ConformanceService")
	b = codec.AppendInt(b, 1)
	return codec.AppendInt(b, 1)
}

// fuzzMessages packs payloads as the fuzzer's input: a 2-byte length
// before each.
func fuzzMessages(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// wholeFrames reports whether raw ends at a frame boundary (so that a
// frame fed next is read as one).
func wholeFrames(raw []byte) bool {
	for len(raw) >= codec.FrameHeaderSize {
		n := uint64(binary.BigEndian.Uint32(raw)) + codec.FrameHeaderSize + 1
		if n > uint64(len(raw)) {
			return false
		}
		raw = raw[n:]
	}
	return len(raw) == 0
}

// fuzzSplit turns the fuzzer's input into what is fed: input starting
// with 0xFF is raw stream bytes (fed in two halves); otherwise a sequence
// of length-prefixed payloads, each framed.
func fuzzSplit(data []byte) [][]byte {
	if len(data) > 0 && data[0] == 0xFF {
		raw := data[1:]
		return [][]byte{raw[:len(raw)/2], raw[len(raw)/2:]}
	}
	var chunks [][]byte
	for len(data) >= 2 && len(chunks) < 64 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		chunks = append(chunks, fuzzFrame(data[:n]))
		data = data[n:]
	}
	return chunks
}

// fuzzMaxObjects bounds the objects a fuzzed connection may hold.
const fuzzMaxObjects = 64

// isProtocolErr reports whether err is one a peer's bad input may close a
// connection with.
func isProtocolErr(err error) bool {
	for _, s := range []error{
		conn.ErrProtocol, conn.ErrPeerClosed,
		codec.ErrTruncated, codec.ErrUnknownTag, codec.ErrInvalid, codec.ErrTooDeep, codec.ErrTooLarge,
		codec.ErrFrameTooLarge, codec.ErrDecompressedTooLarge, codec.ErrCorruptFrame,
		codec.ErrBadMessage, codec.ErrUnknownFormat,
	} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzConnMessages feeds arbitrary message sequences to a live connection
// serving the CONFORMANCE service. Afterwards the connection either still
// answers a PING or has closed with a protocol error; it holds a bounded
// number of objects; and closing it leaves no goroutine behind.
func FuzzConnMessages(f *testing.F) {
	v5, v6 := codec.FormatV5, codec.FormatV6
	f.Add(fuzzMessages(fuzzRequest(v5, 1, netref.HandlePing, fuzzValue("hi"))))
	f.Add(fuzzMessages(fuzzRequest(v6, 1, netref.HandlePing, fuzzValue("hi"))))
	f.Add(fuzzMessages(
		fuzzRequest(v5, 1, netref.HandleGetRoot),
		fuzzRequest(v5, 2, netref.HandleCallAttr, fuzzRootRef(), fuzzValue("echo"), fuzzValue(codec.Tuple{int64(7)}), fuzzValue(codec.Tuple{})),
		fuzzRequest(v5, 3, netref.HandleCallAttr, fuzzRootRef(), fuzzValue("Counter"), fuzzValue(codec.Tuple{}), fuzzValue(codec.Tuple{})),
		fuzzRequest(v5, 4, netref.HandleGetAttr, fuzzRootRef(), fuzzValue("mapping")),
		fuzzRequest(v5, 5, netref.HandleDel, fuzzRootRef(), fuzzValue(int64(1))),
	))
	f.Add(fuzzMessages(
		fuzzRequest(v5, 1, netref.HandleGetRoot),
		fuzzRequest(v5, 2, netref.HandleDel, fuzzRootRef(), fuzzValue(int64(-1))),
		fuzzRequest(v5, 3, netref.HandleDir, fuzzRootRef()),
		fuzzRequest(v5, 4, netref.HandleInspect, fuzzValue(codec.Tuple{"ConformanceService", int64(1), int64(1)})),
	))
	f.Add(fuzzMessages(fuzzRequest(v5, 1, 99), fuzzRequest(v5, 2, netref.HandleClose)))
	f.Add(fuzzMessages([]byte{0xF0, 0xF1, 0xF2}, nil, []byte{0x12, 0x21, 0x21}))
	f.Add(append([]byte{0xFF}, fuzzFrame(fuzzRequest(v5, 1, netref.HandlePing, fuzzValue("raw")))...))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		g0 := runtime.NumGoroutine()
		tr := newMemTransport()
		c, err := conn.New(tr, services.Conformance(),
			conn.WithMaxObjects(fuzzMaxObjects), conn.WithMaxInFlight(16), conn.WithTimeout(2*time.Second),
			conn.WithLimits(codec.FrameLimits{MaxFrame: 1 << 20, MaxDecompressed: 1 << 20}))
		if err != nil {
			t.Fatal(err)
		}
		<-c.AttachDone()
		for _, chunk := range fuzzSplit(data) {
			if c.Feed(chunk) != nil {
				break
			}
		}
		if n := c.HeldObjects(); n > fuzzMaxObjects {
			t.Fatalf("connection holds %d objects, limit %d", n, fuzzMaxObjects)
		}
		aligned := len(data) == 0 || data[0] != 0xFF || wholeFrames(data[1:])
		if !c.Closed() && aligned {
			const pingSeq = 1 << 40
			f := c.Format()
			if f == codec.FormatUnknown {
				f = codec.FormatV5
			}
			if err := c.Feed(fuzzFrame(fuzzRequest(f, pingSeq, netref.HandlePing, fuzzValue("alive")))); err != nil {
				if !isProtocolErr(err) {
					t.Fatalf("PING after the input: %v", err)
				}
			} else {
				deadline := time.After(10 * time.Second)
				for !tr.answered(pingSeq) {
					select {
					case <-tr.wrote:
					case <-deadline:
						t.Fatal("PING not answered")
					}
				}
			}
		}
		if c.Closed() {
			select { // Err is set once the connection is done
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("closed connection not done")
			}
			if err := c.Err(); !isProtocolErr(err) {
				t.Fatalf("closed with %v, not a protocol error", err)
			}
		}
		_ = c.Close()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("connection not done 10 s after Close")
		}
		// Handlers still running see the closed context and end; wait for
		// them (bounded).
		for i := 0; runtime.NumGoroutine() > g0; i++ {
			if i == 500 {
				t.Fatalf("goroutines: %d before, %d after Close", g0, runtime.NumGoroutine())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
