package codec

import (
	"testing"
)

// fmBenchGetroot is the 5.x GETROOT payload (seq 0).
var fmBenchGetroot = []byte{0x12, 0x51, 0x50, 0x11, 0x53, 0x11, 0x51, 0x02}

// fmBenchPayload returns n bytes of realistic mixed message data: a run of
// brine bytes values, the i-th of length i%256, with a tag, a length byte
// and text-like content that varies from item to item (level-1 zlib makes
// it about 3 times smaller).
func fmBenchPayload(n int) []byte {
	const text = "the quick brown fox jumps over the lazy dog 0123456789 "
	p := make([]byte, 0, n+300)
	for i := 0; len(p) < n; i++ {
		l := i % 256
		p = append(p, 0x0e, byte(l))
		for k := 0; k < l; k++ {
			c := text[(i*k+k)%len(text)]
			if k%16 == 0 {
				c = byte(i)
			}
			p = append(p, c)
		}
	}
	return p[:n]
}

func fmBenchFrame(b *testing.B, enc *FrameEncoder, payload []byte) []byte {
	b.Helper()
	f, err := enc.AppendFrame(nil, payload)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func fmBenchEncode(b *testing.B, enc *FrameEncoder, payload []byte) {
	buf := make([]byte, 0, 2*len(payload)+64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var err error
		if buf, err = enc.AppendFrame(buf[:0], payload); err != nil {
			b.Fatal(err)
		}
	}
}

func fmBenchDecode(b *testing.B, frame []byte, payloadLen int) {
	d := &FrameDecoder{}
	n := 0
	fn := func(p []byte) error { n += len(p); return nil }
	b.ReportAllocs()
	b.SetBytes(int64(payloadLen))
	for b.Loop() {
		if err := d.Feed(frame, fn); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 && payloadLen > 0 {
		b.Fatal("no payload")
	}
}

func BenchmarkFrameEncodeSmall(b *testing.B) {
	fmBenchEncode(b, NewFrameEncoder(), fmBenchGetroot)
}

func BenchmarkFrameDecodeSmall(b *testing.B) {
	fmBenchDecode(b, fmBenchFrame(b, NewFrameEncoder(), fmBenchGetroot), len(fmBenchGetroot))
}

func BenchmarkFrameEncodeBytes64KiB(b *testing.B) {
	payload := fmBenchPayload(64 << 10)
	b.Run("raw", func(b *testing.B) { fmBenchEncode(b, &FrameEncoder{Compress: false}, payload) })
	b.Run("compressed", func(b *testing.B) { fmBenchEncode(b, NewFrameEncoder(), payload) })
}

// BenchmarkFrameEncodeCompressOn64KiB encodes 64 KiB payloads with
// compression on: random bytes (the probe refuses them: sent raw after
// deflating 4 KiB), text that compresses about 100:1, and mixed message data
// (about 3:1); "off" is the random payload with compression off, the floor.
func BenchmarkFrameEncodeCompressOn64KiB(b *testing.B) {
	random := make([]byte, 64<<10)
	for i, x := 0, uint32(1); i < len(random); i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		random[i] = byte(x >> 7)
	}
	text := []byte("The quick brown fox jumps over the lazy dog. ")
	for len(text) < 64<<10 {
		text = append(text, text...)
	}
	text = text[:64<<10]
	for _, c := range []struct {
		name    string
		enc     *FrameEncoder
		payload []byte
	}{
		{"random", NewFrameEncoder(), random},
		{"text", NewFrameEncoder(), text},
		{"mixed", NewFrameEncoder(), fmBenchPayload(64 << 10)},
		{"off", &FrameEncoder{}, random},
	} {
		b.Run(c.name, func(b *testing.B) {
			fmBenchEncode(b, c.enc, c.payload)
			f := fmBenchFrame(b, c.enc, c.payload)
			b.ReportMetric(float64(f[4]), "flag")
			b.ReportMetric(float64(len(f)-FrameHeaderSize-1)/float64(len(c.payload)), "body/payload")
		})
	}
}

func BenchmarkFrameDecodeBytes64KiB(b *testing.B) {
	payload := fmBenchPayload(64 << 10)
	b.Run("raw", func(b *testing.B) {
		fmBenchDecode(b, fmBenchFrame(b, &FrameEncoder{Compress: false}, payload), len(payload))
	})
	b.Run("compressed", func(b *testing.B) {
		fmBenchDecode(b, fmBenchFrame(b, NewFrameEncoder(), payload), len(payload))
	})
}

func BenchmarkFrameEncodeCompressed1MiB(b *testing.B) {
	fmBenchEncode(b, NewFrameEncoder(), fmBenchPayload(1<<20))
}

func BenchmarkFrameDecodeCompressed1MiB(b *testing.B) {
	payload := fmBenchPayload(1 << 20)
	frame := fmBenchFrame(b, NewFrameEncoder(), payload)
	fmBenchDecode(b, frame, len(payload))
	b.ReportMetric(float64(len(payload))/float64(len(frame)), "ratio")
}

// BenchmarkFrameDecodeStream feeds a stream of small frames in 1460-byte
// pieces (one TCP segment each), so most frames straddle a boundary now and
// then: the resumable path.
func BenchmarkFrameDecodeStream(b *testing.B) {
	enc := NewFrameEncoder()
	var stream []byte
	for i := 0; len(stream) < 64<<10; i++ {
		var err error
		if stream, err = enc.AppendFrame(stream, fmBenchPayload(8+i%200)); err != nil {
			b.Fatal(err)
		}
	}
	d := &FrameDecoder{}
	fn := func([]byte) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		for p := stream; len(p) > 0; {
			k := min(1460, len(p))
			if err := d.Feed(p[:k], fn); err != nil {
				b.Fatal(err)
			}
			p = p[k:]
		}
	}
}
