package codec

import (
	"bytes"
	"testing"
)

func benchEncode(b *testing.B, v any) {
	b.Helper()
	buf, err := Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = Append(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchDecode decodes enc with one Decoder over and over: reusing its
// storage, copying ("copy") or viewing the input ("view"), or in Keep mode
// ("keep", copying), as a connection decodes requests whose values may be
// retained.
func benchDecode(b *testing.B, enc []byte) {
	b.Helper()
	for _, mode := range []struct {
		name string
		view bool
		keep bool
	}{{"copy", false, false}, {"view", true, false}, {"keep", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			d := &Decoder{View: mode.view, Keep: mode.keep}
			if _, _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeCallattrRequest encodes the 5.x CALLATTR request
// (1, seq, (8, (2, ((3, id_pack), (1, "echo"), (1, (("x",),)), (1, ()))))).
func BenchmarkEncodeCallattrRequest(b *testing.B) {
	b.Run("Append", func(b *testing.B) {
		var v any = callattrRequest(1234)
		benchEncode(b, v)
	})
	b.Run("AppendLowLevel", func(b *testing.B) {
		buf := appendCallattrRequest(nil, 1234)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		seq := int64(0)
		for b.Loop() {
			seq++
			buf = appendCallattrRequest(buf[:0], seq&0xFFFF)
		}
	})
}

func BenchmarkDecodeCallattrRequest(b *testing.B) {
	benchDecode(b, appendCallattrRequest(nil, 1234))
}

// reply is the 5.x reply (2, seq, (1, "x")).
func reply(seq int64) Tuple { return Tuple{int64(2), seq, Tuple{int64(1), "x"}} }

func BenchmarkEncodeReply(b *testing.B) {
	benchEncode(b, any(reply(1234)))
}

func BenchmarkDecodeReply(b *testing.B) {
	enc, err := Append(nil, reply(1234))
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, enc)
}

func BenchmarkEncodeBytes100(b *testing.B) {
	benchEncode(b, bytes.Repeat([]byte{0xA5}, 100))
}

func BenchmarkEncodeBytes64KiB(b *testing.B) {
	benchEncode(b, bytes.Repeat([]byte{0xA5}, 64<<10))
}

func BenchmarkDecodeBytes100(b *testing.B) {
	benchDecode(b, AppendBytes(nil, bytes.Repeat([]byte{0xA5}, 100)))
}

func BenchmarkDecodeBytes64KiB(b *testing.B) {
	benchDecode(b, AppendBytes(nil, bytes.Repeat([]byte{0xA5}, 64<<10)))
}

// BenchmarkDecodeBytes64KiBOwned decodes a 64 KiB bytes value into memory
// of its own each time, as a connection does with a large payload whose
// values outlive the frame: a fresh copying Decoder per message ("fresh")
// or a shared Keep-mode one ("keep").
func BenchmarkDecodeBytes64KiBOwned(b *testing.B) {
	enc := AppendBytes(nil, bytes.Repeat([]byte{0xA5}, 64<<10))
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			var d Decoder
			if _, _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keep", func(b *testing.B) {
		d := &Decoder{Keep: true}
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
