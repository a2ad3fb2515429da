package codec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fmFuzzLimits keeps the fuzzer's frames small.
var fmFuzzLimits = FrameLimits{MaxFrame: 1 << 16, MaxDecompressed: 1 << 16}

// fmFuzzResult is what a FrameDecoder made of an input.
type fmFuzzResult struct {
	payloads [][]byte
	err      error
	buffered int
}

func fmFuzzRun(chunks ...[]byte) fmFuzzResult {
	d := NewFrameDecoder(fmFuzzLimits)
	var r fmFuzzResult
	for _, c := range chunks {
		r.err = d.Feed(c, func(p []byte) error {
			r.payloads = append(r.payloads, bytes.Clone(p))
			return nil
		})
		if r.err != nil {
			break
		}
	}
	r.buffered = d.Buffered()
	return r
}

// fmFuzzReference decodes data the obvious way: a model of the framing to
// check the resumable decoder against. It returns the sentinel error only.
func fmFuzzReference(data []byte) fmFuzzResult {
	var r fmFuzzResult
	for len(data) >= FrameHeaderSize {
		n := binary.BigEndian.Uint32(data)
		if uint64(n) > uint64(fmFuzzLimits.MaxFrame) {
			r.err = ErrFrameTooLarge
			return r
		}
		if uint64(len(data)) < uint64(FrameHeaderSize)+uint64(n)+1 {
			break
		}
		body := data[FrameHeaderSize : FrameHeaderSize+int(n)]
		if data[4] != 0 {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				r.err = ErrCorruptFrame
				return r
			}
			out, err := io.ReadAll(io.LimitReader(zr, int64(fmFuzzLimits.MaxDecompressed)+1))
			switch {
			case len(out) > fmFuzzLimits.MaxDecompressed:
				r.err = ErrDecompressedTooLarge
				return r
			case err != nil:
				r.err = ErrCorruptFrame
				return r
			}
			body = out
		}
		r.payloads = append(r.payloads, bytes.Clone(body))
		data = data[FrameHeaderSize+int(n)+1:]
	}
	r.buffered = len(data)
	return r
}

func fmFuzzSentinel(err error) error {
	for _, s := range []error{ErrFrameTooLarge, ErrDecompressedTooLarge, ErrCorruptFrame} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

func fmFuzzEqual(t *testing.T, what string, want, got fmFuzzResult, exactErr bool) {
	t.Helper()
	if len(want.payloads) != len(got.payloads) {
		t.Fatalf("%s: %d payloads, want %d", what, len(got.payloads), len(want.payloads))
	}
	for i := range want.payloads {
		if !bytes.Equal(want.payloads[i], got.payloads[i]) {
			t.Fatalf("%s: payload %d differs: %x, want %x", what, i, got.payloads[i], want.payloads[i])
		}
	}
	if (want.err == nil) != (got.err == nil) {
		t.Fatalf("%s: error %v, want %v", what, got.err, want.err)
	}
	if exactErr && want.err != nil && want.err.Error() != got.err.Error() {
		t.Fatalf("%s: error %q, want %q", what, got.err, want.err)
	}
	if fmFuzzSentinel(want.err) != fmFuzzSentinel(got.err) {
		t.Fatalf("%s: error %v, want %v", what, got.err, want.err)
	}
	if want.err == nil && want.buffered != got.buffered {
		t.Fatalf("%s: %d bytes buffered, want %d", what, got.buffered, want.buffered)
	}
}

// FuzzFrameDecode feeds the same input whole, split in two at a point the
// fuzzer chooses, in three pieces and one byte at a time: the payloads, the
// error and what stays buffered must not depend on the splitting, and must
// match a straightforward reference decoder.
func FuzzFrameDecode(f *testing.F) {
	for _, cases := range fmFrameCases(f) {
		for _, c := range cases {
			if c.FrameHex != "" {
				frame := fmHex(f, c.FrameHex)
				f.Add(frame, uint32(7), uint32(len(frame)/2))
				f.Add(append(bytes.Clone(frame), frame...), uint32(len(frame)), uint32(3))
			}
		}
	}
	for _, s := range fmSessions(f) {
		frames, _ := s.frames(f)
		f.Add(bytes.Join(frames[:min(4, len(frames))], nil), uint32(11), uint32(40))
	}
	good := fmZlib(f, bytes.Repeat([]byte("abc"), 2000), 1)
	f.Add(fmRawFrame(1, good), uint32(9), uint32(100))
	f.Add(fmRawFrame(1, good[:len(good)-3]), uint32(1), uint32(2))
	f.Add(fmRawFrame(2, []byte{0x78, 0x01, 0xff}), uint32(0), uint32(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x0a}, uint32(2), uint32(4))
	f.Add([]byte{0, 0, 0}, uint32(1), uint32(1))

	f.Fuzz(func(t *testing.T, data []byte, split1, split2 uint32) {
		whole := fmFuzzRun(data)
		fmFuzzEqual(t, "reference", fmFuzzReference(data), whole, false)

		k := int(split1 % uint32(len(data)+1))
		fmFuzzEqual(t, "two pieces", whole, fmFuzzRun(data[:k], data[k:]), true)

		j := int(split2 % uint32(len(data)+1))
		a, b := min(j, k), max(j, k)
		fmFuzzEqual(t, "three pieces", whole, fmFuzzRun(data[:a], data[a:b], data[b:]), true)

		if len(data) <= 1<<12 {
			fmFuzzEqual(t, "byte by byte", whole, fmFuzzRun(fmBytewise(data)...), true)
		}
	})
}
