package codec

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of the encoder's per-frame compression decision (FrameEncoder.Compress:
// compress only when it pays).

// fmRandom returns n pseudo-random (incompressible) bytes.
func fmRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// fmText returns n bytes of highly compressible text.
func fmText(n int) []byte {
	unit := []byte("The quick brown fox jumps over the lazy dog. ")
	return bytes.Repeat(unit, n/len(unit)+1)[:n]
}

// fmCheckFrame checks the frame f (alone in its buffer) carries payload with
// the given flag, that a compressed body inflates to payload and that the
// decoder reads payload back; it returns the body.
func fmCheckFrame(t *testing.T, f, payload []byte, wantFlag byte) []byte {
	t.Helper()
	require.Equal(t, wantFlag, f[4], "flag")
	require.Equal(t, FrameTrailer, f[len(f)-1], "trailer")
	body := f[FrameHeaderSize : len(f)-1]
	require.Equal(t, len(body), int(binary.BigEndian.Uint32(f)), "length field")
	if wantFlag == frameFlagRaw {
		require.Equal(t, payload, body, "raw body is the payload")
	} else {
		require.Equal(t, payload, fmInflate(t, body))
	}
	got, err := fmFeed(&FrameDecoder{}, f)
	require.NoError(t, err)
	require.Equal(t, [][]byte{payload}, got, "round trip")
	return body
}

func TestFrameEncodeCompressDecision(t *testing.T) {
	mixed := func(head, tail []byte) []byte { return append(bytes.Clone(head), tail...) }
	for _, tc := range []struct {
		name       string
		payload    []byte
		compressed bool
	}{
		// Incompressible payloads are sent raw: Python would compress them
		// and send a larger body.
		{"random 3001 (whole payload is the sample; body would grow)", fmRandom(1, CompressionThreshold+1), false},
		{"random 4096 (exactly the sample)", fmRandom(2, compressSample), false},
		{"random 4097 (probe rejects)", fmRandom(3, compressSample+1), false},
		{"random 64KiB", fmRandom(4, 64<<10), false},
		{"random 1MiB", fmRandom(5, 1<<20), false},
		// Compressible payloads are compressed, as in Python.
		{"text 3001", fmText(CompressionThreshold + 1), true},
		{"text 4097", fmText(compressSample + 1), true},
		{"text 64KiB", fmText(64 << 10), true},
		{"mixed message data 64KiB", fmBenchPayload(64 << 10), true},
		{"text 1MiB", fmText(1 << 20), true},
		// The probe only sees the first compressSample bytes: a payload
		// whose head is incompressible is sent raw even if the rest would
		// compress. Correct on the wire, only less compact (documented on
		// FrameEncoder.Compress).
		{"random head 4KiB, text tail 60KiB", mixed(fmRandom(6, compressSample), fmText(60<<10)), false},
		// A compressible head passes the probe; the whole payload is then
		// compressed, and kept so because it is smaller overall.
		{"text head 4KiB, random tail 60KiB", mixed(fmText(compressSample), fmRandom(7, 60<<10)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFrameEncoder().AppendFrame(nil, tc.payload)
			require.NoError(t, err)
			if !tc.compressed {
				fmCheckFrame(t, f, tc.payload, frameFlagRaw)
				return
			}
			body := fmCheckFrame(t, f, tc.payload, frameFlagCompressed)
			require.Less(t, len(body), len(tc.payload), "compressed body is smaller")
		})
	}
}

// TestFrameEncodeCompressRatio checks the probe (a sync flush after the
// sample) costs next to nothing in compression ratio against deflating the
// payload in one go.
func TestFrameEncodeCompressRatio(t *testing.T) {
	for _, payload := range [][]byte{fmText(64 << 10), fmBenchPayload(64 << 10), fmBenchPayload(1 << 20)} {
		f, err := NewFrameEncoder().AppendFrame(nil, payload)
		require.NoError(t, err)
		body := fmCheckFrame(t, f, payload, frameFlagCompressed)
		oneGo := fmZlib(t, payload, CompressionLevel)
		require.LessOrEqual(t, len(body), len(oneGo)+len(oneGo)/50+64,
			"probe costs at most 2%% + 64 bytes (got %d, one go %d)", len(body), len(oneGo))
	}
}

// TestFrameEncodeCompressKeepsBuffer checks a frame sent raw after a refused
// compression leaves the bytes before the frame, and frames before and after
// it, intact.
func TestFrameEncodeCompressKeepsBuffer(t *testing.T) {
	enc := NewFrameEncoder()
	payloads := [][]byte{
		[]byte("hello"),
		fmRandom(8, 64<<10),
		fmText(64 << 10),
		fmRandom(9, CompressionThreshold+1),
		fmText(CompressionThreshold + 1),
		nil,
	}
	buf := []byte("prefix")
	for _, p := range payloads {
		var start int
		buf, start = enc.Begin(buf)
		buf = append(buf, p...)
		var err error
		buf, err = enc.Finish(buf, start)
		require.NoError(t, err)
	}
	require.Equal(t, "prefix", string(buf[:6]))
	got, err := fmFeed(&FrameDecoder{}, buf[6:])
	require.NoError(t, err)
	require.Len(t, got, len(payloads))
	for i, p := range payloads {
		require.Equal(t, len(p), len(got[i]), "frame %d", i)
		require.True(t, bytes.Equal(p, got[i]), "frame %d", i)
	}
	// Frame flags, in order: raw (small), raw (random), compressed, raw
	// (random, grows), compressed, raw (empty).
	var flags []byte
	for p := buf[6:]; len(p) > 0; {
		n := int(binary.BigEndian.Uint32(p))
		flags = append(flags, p[4])
		p = p[FrameHeaderSize+n+1:]
	}
	require.Equal(t, []byte{0, 0, 1, 0, 1, 0}, flags)
}

func TestFrameEncodeCompressAllocs(t *testing.T) {
	if !fmPoolsKeepItems() {
		t.Skip("sync.Pool drops items at random (race detector): compressed path not allocation-free")
	}
	enc := NewFrameEncoder()
	for _, payload := range [][]byte{fmRandom(10, 64<<10), fmRandom(11, CompressionThreshold+1), fmText(64 << 10)} {
		buf := make([]byte, 0, 2*len(payload))
		buf, _ = enc.AppendFrame(buf, payload) // warm up
		allocs := testing.AllocsPerRun(20, func() {
			buf, _ = enc.AppendFrame(buf[:0], payload)
		})
		require.Zero(t, allocs, "AppendFrame of %d bytes, flag %d", len(payload), buf[4])
	}
}
