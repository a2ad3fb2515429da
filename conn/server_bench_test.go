package conn_test

import (
	"testing"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// discardTransport drops what a connection writes, but for the first
// frame, and counts the frames.
type discardTransport struct {
	frames int
	first  []byte
	last   []byte // while keep
	keep   bool
}

func (t *discardTransport) Write(b []byte) error {
	if t.frames == 0 {
		t.first = append([]byte(nil), b...)
	}
	if t.keep {
		t.last = append(t.last[:0], b...)
	}
	t.frames++
	return nil
}

// lastMessage decodes the last frame kept.
func (t *discardTransport) lastMessage(tb testing.TB) (uint8, any) {
	var msg uint8
	var args any
	err := codec.NewFrameDecoder(codec.FrameLimits{}).Feed(t.last, func(p []byte) error {
		var d codec.Decoder
		var err error
		msg, _, args, err = d.DecodeMessage(p, codec.FormatV5)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return msg, args
}
func (t *discardTransport) Close() error { return nil }

// BenchmarkServerCallSmallInt is the server's side of one small sync call
// in steady state: a CALLATTR echo(42) frame is fed to a connection serving
// the CONFORMANCE service, which decodes it, runs echo and encodes and
// writes the reply. allocs/op is the server's allocations per call.
func BenchmarkServerCallSmallInt(b *testing.B) {
	for _, tc := range []struct {
		name string
		exec dispatch.Executor
	}{
		{"inline", dispatch.Inline{}},
		{"pool", dispatch.NewPool(2, 64)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchServerCall(b, tc.exec, codec.Tuple{int64(42)})
		})
	}
}

// BenchmarkServerCallBytes100 is the same with a 100-byte bytes argument.
func BenchmarkServerCallBytes100(b *testing.B) {
	benchServerCall(b, dispatch.Inline{}, codec.Tuple{make([]byte, 100)})
}

func benchServerCall(b *testing.B, exec dispatch.Executor, args codec.Tuple) {
	tr := &discardTransport{keep: true}
	c, err := conn.New(tr, services.Conformance(), conn.WithExecutor(exec))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	<-c.AttachDone()
	if err := c.Feed(fuzzFrame(fuzzRequest(codec.FormatV5, 1, netref.HandleGetRoot))); err != nil {
		b.Fatal(err)
	}
	// The root's reference, as GETROOT answered it: (3 or 4, id_pack).
	var root []byte
	_ = codec.NewFrameDecoder(codec.FrameLimits{}).Feed(tr.first, func(p []byte) error {
		var d codec.Decoder
		_, _, v, err := d.DecodeMessage(p, codec.FormatV5)
		if err != nil {
			b.Fatal(err)
		}
		box := v.(codec.Tuple)
		root = codec.AppendTupleHeader(nil, 2)
		root = codec.AppendInt(root, 3) // the receiver's own object
		root, err = codec.Append(root, box[1])
		return err
	})
	boxedArgs := codec.AppendTupleHeader(nil, 2)
	boxedArgs = codec.AppendInt(boxedArgs, 1)
	boxedArgs, _ = codec.Append(boxedArgs, args)
	frame := fuzzFrame(fuzzRequest(codec.FormatV5, 2, netref.HandleCallAttr,
		root, fuzzValue("echo"), boxedArgs, fuzzValue(codec.Tuple{})))
	want := 2 // GETROOT's reply and the first call's
	if err := c.Feed(frame); err != nil {
		b.Fatal(err)
	}
	if _, ok := exec.(dispatch.Inline); ok {
		if tr.frames != want {
			b.Fatalf("%d frames written, want %d", tr.frames, want)
		}
		if msg, v := tr.lastMessage(b); msg != codec.MsgReply {
			b.Fatalf("the call was answered with message %d: %v", msg, v)
		}
	}
	tr.keep = false
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if err := c.Feed(frame); err != nil {
			b.Fatal(err)
		}
	}
}
