package codec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// ---- vector loading (frames.json, sessions) --------------------------------

// fmFrameCase is one entry of frames.json / v6/frames.json.
type fmFrameCase struct {
	Name            string `json:"name"`
	CompressEnabled bool   `json:"channel_compress_enabled"`
	PayloadLen      int    `json:"payload_len"`
	PayloadHex      string `json:"payload_hex"`
	PayloadRecipe   *struct {
		RepeatHex  string `json:"repeat_hex"`
		TruncateTo int    `json:"truncate_to"`
		ByteI      string `json:"byte_i"`
		Len        int    `json:"len"`
	} `json:"payload_recipe"`
	FrameHex      string `json:"frame_hex"`
	FrameHeadHex  string `json:"frame_head_hex"`
	FrameTailHex  string `json:"frame_tail_hex"`
	FrameLen      int    `json:"frame_len"`
	HeaderLength  uint32 `json:"header_length_field"`
	HeaderFlag    byte   `json:"header_compressed_flag"`
	TrailingHex   string `json:"trailing_byte_hex"`
	ZlibHeaderHex string `json:"zlib_header_hex"`
	Message       *struct {
		Msg string `json:"msg"`
		Seq int64  `json:"seq"`
	} `json:"message"`
}

// payload returns the case's payload, built from the recipe when the vector
// does not spell it out.
func (c fmFrameCase) payload(t testing.TB) []byte {
	t.Helper()
	if r := c.PayloadRecipe; r != nil {
		switch {
		case r.RepeatHex != "":
			unit := fmHex(t, r.RepeatHex)
			p := bytes.Repeat(unit, r.TruncateTo/len(unit)+1)[:r.TruncateTo]
			require.Len(t, p, c.PayloadLen)
			return p
		case r.ByteI == "i % 251":
			p := make([]byte, r.Len)
			for i := range p {
				p[i] = byte(i % 251)
			}
			require.Len(t, p, c.PayloadLen)
			return p
		}
		t.Fatalf("%s: unknown payload recipe %+v", c.Name, *r)
	}
	p := fmHex(t, c.PayloadHex)
	require.Len(t, p, c.PayloadLen, c.Name)
	return p
}

// fmMessage is one frame of a recorded session.
type fmMessage struct {
	Index           int     `json:"index"`
	Direction       string  `json:"direction"`
	PayloadHex      *string `json:"payload_hex"`
	FrameHex        *string `json:"frame_hex"`
	FrameCompressed bool    `json:"frame_compressed"`
	WireFormat      string  `json:"wire_format"`
	MsgTypeByteHex  string  `json:"msg_type_byte_hex"`
	BrineHex        string  `json:"brine_hex"`
	Decoded         *struct {
		Msg string `json:"msg"`
		Seq int64  `json:"seq"`
	} `json:"decoded"`
	ThreadPrefix *struct {
		Hex string `json:"hex"`
	} `json:"thread_prefix"`
}

// fmSession is a named list of frames and the layout the session speaks
// (FormatUnknown when its messages mix layouts, as in cross_version.json).
type fmSession struct {
	Name     string
	Format   Format
	Messages []fmMessage
}

// frames returns the session's frames (entries without bytes, such as EOF
// markers, are skipped) with their payloads.
func (s fmSession) frames(t testing.TB) (frames, payloads [][]byte) {
	t.Helper()
	for _, m := range s.Messages {
		if m.FrameHex == nil || m.PayloadHex == nil {
			continue
		}
		frames = append(frames, fmHex(t, *m.FrameHex))
		payloads = append(payloads, fmHex(t, *m.PayloadHex))
	}
	return frames, payloads
}

func (s fmSession) stream(t testing.TB) (stream []byte, payloads [][]byte) {
	t.Helper()
	frames, payloads := s.frames(t)
	return bytes.Join(frames, nil), payloads
}

func fmHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func fmLoadJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

func fmFrameCases(t testing.TB) map[string][]fmFrameCase {
	t.Helper()
	out := map[string][]fmFrameCase{}
	for _, name := range []string{"frames.json", "v6/frames.json"} {
		var cases []fmFrameCase
		fmLoadJSON(t, name, &cases)
		require.NotEmpty(t, cases)
		out[name] = cases
	}
	return out
}

// fmSessions loads every recorded session of the 5.x and 6.x vectors.
func fmSessions(t testing.TB) []fmSession {
	t.Helper()
	var out []fmSession
	type sessionsFile struct {
		Sessions map[string]struct {
			Messages []fmMessage `json:"messages"`
		} `json:"sessions"`
	}
	for _, f := range []struct {
		file   string
		format Format
	}{{"messages.json", FormatV5}, {"v6/messages.json", FormatV6}, {"v6/cross_version.json", FormatUnknown}} {
		var sf sessionsFile
		fmLoadJSON(t, f.file, &sf)
		require.NotEmpty(t, sf.Sessions, f.file)
		for name, s := range sf.Sessions {
			out = append(out, fmSession{Name: f.file + ":" + name, Format: f.format, Messages: s.Messages})
		}
	}
	for _, f := range []struct {
		file   string
		format Format
	}{{"minimal_server_session.json", FormatV5}, {"v6/minimal_server_session.json", FormatV6}} {
		var s struct {
			Messages []fmMessage `json:"messages"`
		}
		fmLoadJSON(t, f.file, &s)
		require.NotEmpty(t, s.Messages, f.file)
		out = append(out, fmSession{Name: f.file, Format: f.format, Messages: s.Messages})
	}
	// Stable order for reproducible subtests.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// fmFeed feeds the chunks in order to d and returns copies of the payloads
// it produced and the first error.
func fmFeed(d *FrameDecoder, chunks ...[]byte) ([][]byte, error) {
	var got [][]byte
	for _, c := range chunks {
		err := d.Feed(c, func(p []byte) error {
			got = append(got, bytes.Clone(p))
			return nil
		})
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// fmBytewise splits b into one-byte chunks.
func fmBytewise(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// fmRandomChunks splits b at random points (chunk sizes 0..max).
func fmRandomChunks(r *rand.Rand, b []byte, maxChunk int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(r.IntN(maxChunk+1), len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func fmInflate(t testing.TB, body []byte) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(body))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

// fmRawFrame builds a frame around body by hand.
func fmRawFrame(flag byte, body []byte) []byte {
	f := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	f = append(f, flag)
	f = append(f, body...)
	return append(f, FrameTrailer)
}

func fmZlib(t testing.TB, payload []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, level)
	require.NoError(t, err)
	_, err = zw.Write(payload)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// ---- encoder ---------------------------------------------------------------

func TestFrameEncodeVectors(t *testing.T) {
	for file, cases := range fmFrameCases(t) {
		for _, c := range cases {
			t.Run(file+"/"+c.Name, func(t *testing.T) {
				payload := c.payload(t)
				enc := NewFrameEncoder()
				enc.Compress = c.CompressEnabled
				prefix := []byte("prefix")
				got, err := enc.AppendFrame(bytes.Clone(prefix), payload)
				require.NoError(t, err)
				require.Equal(t, prefix, got[:len(prefix)], "dst content kept")
				got = got[len(prefix):]
				if c.HeaderFlag != 0 && int(c.HeaderLength) >= c.PayloadLen {
					// Python compressed a payload zlib cannot shrink (its
					// body grew). We send such a payload raw, as Python
					// accepts (TestFrameDecodeVectors still reads Python's
					// compressed frame): flag 0, body = payload.
					require.Equal(t, frameFlagRaw, got[4], "incompressible payload sent raw")
					require.Equal(t, len(payload), int(binary.BigEndian.Uint32(got)))
					require.Equal(t, payload, got[FrameHeaderSize:len(got)-1])
					return
				}

				require.Equal(t, c.HeaderFlag, got[4], "flag")
				require.Equal(t, fmHex(t, c.TrailingHex), got[len(got)-1:], "trailer")
				length := binary.BigEndian.Uint32(got)
				require.Equal(t, len(got)-FrameHeaderSize-1, int(length), "length field counts the body")
				body := got[FrameHeaderSize : len(got)-1]

				if c.HeaderFlag == 0 {
					// Uncompressed frames are byte-for-byte Python's.
					switch {
					case c.FrameHex != "":
						require.Equal(t, c.FrameHex, hex.EncodeToString(got))
					default:
						require.Equal(t, c.FrameLen, len(got))
						require.True(t, strings.HasPrefix(hex.EncodeToString(got), c.FrameHeadHex), "head")
						require.True(t, strings.HasSuffix(hex.EncodeToString(got), c.FrameTailHex), "tail")
					}
					require.Equal(t, c.HeaderLength, length)
					require.Equal(t, payload, body)
					return
				}
				// Compressed: Go's zlib bytes differ from CPython's; the
				// stream header (level 1 → 78 01) and the content agree.
				require.Equal(t, c.ZlibHeaderHex, hex.EncodeToString(body[:2]))
				require.Equal(t, payload, fmInflate(t, body))
				// And our decoder reads our frame back.
				got2, err := fmFeed(&FrameDecoder{}, got)
				require.NoError(t, err)
				require.Equal(t, [][]byte{payload}, got2)
			})
		}
	}
}

func TestFrameEncodeThreshold(t *testing.T) {
	for _, tc := range []struct {
		name       string
		enc        *FrameEncoder
		n          int
		compressed bool
	}{
		{"empty", NewFrameEncoder(), 0, false},
		{"3000 raw", NewFrameEncoder(), CompressionThreshold, false},
		{"3001 compressed", NewFrameEncoder(), CompressionThreshold + 1, true},
		{"3001 compress off", &FrameEncoder{Compress: false}, CompressionThreshold + 1, false},
		{"zero value never compresses", &FrameEncoder{}, 100000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'x'}, tc.n)
			f, err := tc.enc.AppendFrame(nil, payload)
			require.NoError(t, err)
			if tc.compressed {
				require.Equal(t, byte(1), f[4])
				require.Equal(t, payload, fmInflate(t, f[FrameHeaderSize:len(f)-1]))
			} else {
				require.Equal(t, byte(0), f[4])
				require.Equal(t, payload, f[FrameHeaderSize:len(f)-1])
			}
		})
	}
}

func TestFrameEncodeBeginFinish(t *testing.T) {
	enc := NewFrameEncoder()
	big := bytes.Repeat([]byte("abcdefgh"), 1000) // compressed
	var buf []byte
	var want [][]byte
	for i, p := range [][]byte{nil, []byte("hello"), big, []byte("x")} {
		var start int
		buf, start = enc.Begin(buf)
		require.Equal(t, start+FrameHeaderSize, len(buf), "frame %d", i)
		buf = append(buf, p...)
		var err error
		buf, err = enc.Finish(buf, start)
		require.NoError(t, err)
		want = append(want, p)
	}
	got, err := fmFeed(&FrameDecoder{}, buf)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, string(want[i]), string(got[i]), "frame %d", i)
	}
}

func TestFrameEncodeFinishBadStart(t *testing.T) {
	enc := NewFrameEncoder()
	for _, start := range []int{-1, 3, 100} {
		buf := []byte{1, 2, 3, 4, 5, 6, 7}
		out, err := enc.Finish(buf, start)
		require.Error(t, err, "start %d", start)
		if start >= 0 && start <= len(buf) {
			require.Equal(t, buf[:start], out)
		}
	}
}

func TestFrameEncodeTooLarge(t *testing.T) {
	// frameBodyLimit stands in for 4 GiB − 1.
	old := frameBodyLimit
	frameBodyLimit = 100
	defer func() { frameBodyLimit = old }()

	enc := &FrameEncoder{}
	dst := []byte("keep")
	out, err := enc.AppendFrame(dst, make([]byte, 101))
	require.ErrorIs(t, err, ErrFrameTooLarge)
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	require.EqualValues(t, 101, fe.Size)
	require.EqualValues(t, 100, fe.Limit)
	require.Equal(t, "keep", string(out))

	out, err = enc.AppendFrame(dst, make([]byte, 100))
	require.NoError(t, err)
	require.Len(t, out, 4+100+6)
}

func TestFrameEncodeAllocs(t *testing.T) {
	enc := NewFrameEncoder()
	payload := fmHex(t, "1251501153115102")
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = enc.AppendFrame(buf[:0], payload)
	})
	require.Zero(t, allocs, "uncompressed AppendFrame")
	require.Equal(t, "000000080012515011531151020a", hex.EncodeToString(buf))

	allocs = testing.AllocsPerRun(100, func() {
		b, start := enc.Begin(buf[:0])
		b = append(b, payload...)
		buf, _ = enc.Finish(b, start)
	})
	require.Zero(t, allocs, "uncompressed Begin/Finish")

	if !fmPoolsKeepItems() {
		t.Skip("sync.Pool drops items at random (race detector): compressed path not allocation-free")
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	buf = make([]byte, 0, 2*len(big))
	buf, _ = enc.AppendFrame(buf, big) // warm up the zlib writer and scratch
	allocs = testing.AllocsPerRun(20, func() {
		buf, _ = enc.AppendFrame(buf[:0], big)
	})
	require.Zero(t, allocs, "compressed AppendFrame after warm-up")
}

// fmPoolsKeepItems reports whether a sync.Pool returns what was just put
// into it; under the race detector it drops items at random.
func fmPoolsKeepItems() bool {
	var p sync.Pool
	x := new(int)
	for range 100 {
		p.Put(x)
		if p.Get() == nil {
			return false
		}
	}
	return true
}

// ---- decoder ---------------------------------------------------------------

func TestFrameDecodeVectors(t *testing.T) {
	for file, cases := range fmFrameCases(t) {
		for _, c := range cases {
			if c.FrameHex == "" {
				continue // 70000-byte frame: head and tail only (covered by the encoder test)
			}
			t.Run(file+"/"+c.Name, func(t *testing.T) {
				frame := fmHex(t, c.FrameHex)
				payload := c.payload(t)
				want := [][]byte{payload}

				got, err := fmFeed(&FrameDecoder{}, frame)
				require.NoError(t, err)
				require.Equal(t, want, got, "whole")

				d := &FrameDecoder{}
				got, err = fmFeed(d, fmBytewise(frame)...)
				require.NoError(t, err)
				require.Equal(t, want, got, "byte by byte")
				require.Zero(t, d.Buffered())
			})
		}
	}
}

func TestFrameDecodeSessions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 3))
	for _, s := range fmSessions(t) {
		t.Run(s.Name, func(t *testing.T) {
			stream, want := s.stream(t)
			require.NotEmpty(t, want)

			got, err := fmFeed(&FrameDecoder{}, stream)
			require.NoError(t, err)
			require.Equal(t, want, got, "whole")

			d := &FrameDecoder{}
			got, err = fmFeed(d, fmBytewise(stream)...)
			require.NoError(t, err)
			require.Equal(t, want, got, "byte by byte")
			require.Zero(t, d.Buffered())

			// Frame by frame, each Feed exactly one frame.
			frames, _ := s.frames(t)
			got, err = fmFeed(&FrameDecoder{}, frames...)
			require.NoError(t, err)
			require.Equal(t, want, got, "frame by frame")

			for i := 0; i < 20; i++ {
				maxChunk := []int{3, 17, 100, 4096}[i%4]
				got, err = fmFeed(&FrameDecoder{}, fmRandomChunks(r, stream, maxChunk)...)
				require.NoError(t, err)
				require.Equal(t, want, got, "random chunks, round %d", i)
			}
		})
	}
}

func TestFrameDecodeAllSplits(t *testing.T) {
	for _, s := range fmSessions(t) {
		if !strings.HasSuffix(s.Name, ":example") && !strings.HasPrefix(s.Name, "v6/cross_version.json:v") {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			stream, want := s.stream(t)
			d := &FrameDecoder{}
			for i := 0; i <= len(stream); i++ {
				d.Reset()
				got, err := fmFeed(d, stream[:i], stream[i:])
				require.NoError(t, err)
				require.Equal(t, want, got, "split at %d", i)
				require.Zero(t, d.Buffered())
			}
		})
	}
}

func TestFrameDecodeZeroCopy(t *testing.T) {
	frame := fmHex(t, "000000080012515011531151020a")
	in := append(bytes.Clone(frame), frame...)
	var ptrs []*byte
	err := (&FrameDecoder{}).Feed(in, func(p []byte) error {
		ptrs = append(ptrs, unsafe.SliceData(p))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []*byte{&in[5], &in[len(frame)+5]}, ptrs, "payloads alias the input")

	// A header arriving alone, then the whole body: the body is not copied.
	d := &FrameDecoder{}
	require.NoError(t, d.Feed(frame[:5], func([]byte) error { t.Fatal("no frame yet"); return nil }))
	require.Equal(t, 5, d.Buffered())
	rest := bytes.Clone(frame[5:])
	var ptr *byte
	require.NoError(t, d.Feed(rest, func(p []byte) error { ptr = unsafe.SliceData(p); return nil }))
	require.Equal(t, &rest[0], ptr)
}

func TestFrameDecodeAllocs(t *testing.T) {
	frame := fmHex(t, "000000080012515011531151020a")
	three := bytes.Repeat(frame, 3)
	d := &FrameDecoder{}
	n := 0
	fn := func(p []byte) error { n += len(p); return nil }
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = d.Feed(frame, fn) }), "one whole frame")
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = d.Feed(three, fn) }), "several whole frames")
	// Split frames after warm-up: the partial buffer is reused.
	require.Zero(t, testing.AllocsPerRun(100, func() {
		_ = d.Feed(three[:20], fn)
		_ = d.Feed(three[20:], fn)
	}), "split frames")
	require.NotZero(t, n)
}

func TestFrameDecodeBufferedAndReset(t *testing.T) {
	frame := fmHex(t, "000000080012515011531151020a")
	d := &FrameDecoder{}
	var got [][]byte
	fn := func(p []byte) error { got = append(got, bytes.Clone(p)); return nil }
	for i := 1; i < len(frame); i++ {
		require.NoError(t, d.Feed(frame[i-1:i], fn))
		require.Equal(t, i, d.Buffered())
	}
	require.NoError(t, d.Feed(frame[len(frame)-1:], fn))
	require.Zero(t, d.Buffered())
	require.Len(t, got, 1)

	require.NoError(t, d.Feed(frame[:9], fn))
	require.Equal(t, 9, d.Buffered())
	d.Reset()
	require.Zero(t, d.Buffered())
	require.NoError(t, d.Feed(frame, fn))
	require.Len(t, got, 2)
	require.Equal(t, got[0], got[1])

	require.NoError(t, d.Feed(nil, fn), "empty input")
}

func TestFrameDecodeFlags(t *testing.T) {
	payload := []byte("some payload")
	body := fmZlib(t, payload, zlib.DefaultCompression)
	for _, flag := range []byte{1, 2, 0x80, 0xff} {
		got, err := fmFeed(&FrameDecoder{}, fmRawFrame(flag, body))
		require.NoError(t, err, "flag %#x", flag)
		require.Equal(t, [][]byte{payload}, got, "any non-zero flag means zlib")
	}
	// Flag 0 with a small payload is passed through as is, trailer unchecked.
	for _, trailer := range []byte{0x0a, 0x00, 0xff} {
		f := fmRawFrame(0, payload)
		f[len(f)-1] = trailer
		got, err := fmFeed(&FrameDecoder{}, f, f)
		require.NoError(t, err)
		require.Equal(t, [][]byte{payload, payload}, got, "trailer %#x", trailer)
	}
	// Compressed payloads of any size, even below the threshold; bytes after
	// the zlib stream are ignored as Python's zlib.decompress does.
	got, err := fmFeed(&FrameDecoder{}, fmRawFrame(1, append(bytes.Clone(body), "junk"...)))
	require.NoError(t, err)
	require.Equal(t, [][]byte{payload}, got)
	// Empty payload, compressed.
	got, err = fmFeed(&FrameDecoder{}, fmRawFrame(1, fmZlib(t, nil, 1)))
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}}, got)
}

func TestFrameDecodeTooLarge(t *testing.T) {
	huge := fmHex(t, "ffffffff00")
	t.Run("whole", func(t *testing.T) {
		d := &FrameDecoder{}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := d.Feed(append(bytes.Clone(huge), make([]byte, 100)...), func([]byte) error {
			t.Fatal("no payload expected")
			return nil
		})
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrFrameTooLarge)
		var fe *FrameError
		require.ErrorAs(t, err, &fe)
		require.EqualValues(t, 0xFFFFFFFF, fe.Size)
		require.EqualValues(t, DefaultMaxFrame, fe.Limit)
		require.Contains(t, err.Error(), "4294967295")
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "no big allocation")
		require.Zero(t, d.Buffered())

		// Sticky: the stream cannot be resynchronised.
		err2 := d.Feed(fmHex(t, "000000080012515011531151020a"), func([]byte) error {
			t.Fatal("decoder must stay failed")
			return nil
		})
		require.Equal(t, err, err2)
		d.Reset()
		got, err := fmFeed(d, fmHex(t, "000000080012515011531151020a"))
		require.NoError(t, err)
		require.Len(t, got, 1)
	})
	t.Run("byte by byte", func(t *testing.T) {
		d := &FrameDecoder{}
		for i := 0; i < 4; i++ {
			require.NoError(t, d.Feed(huge[i:i+1], nil))
		}
		require.ErrorIs(t, d.Feed(huge[4:], nil), ErrFrameTooLarge)
	})
	t.Run("allocs", func(t *testing.T) {
		allocs := testing.AllocsPerRun(50, func() {
			var d FrameDecoder
			_ = d.Feed(huge, nil)
		})
		require.LessOrEqual(t, allocs, 2.0)
	})
	t.Run("limit exact", func(t *testing.T) {
		lim := FrameLimits{MaxFrame: 10}
		got, err := fmFeed(NewFrameDecoder(lim), fmRawFrame(0, make([]byte, 10)))
		require.NoError(t, err)
		require.Len(t, got, 1)
		_, err = fmFeed(NewFrameDecoder(lim), fmRawFrame(0, make([]byte, 11)))
		require.ErrorIs(t, err, ErrFrameTooLarge)
		// The limit applies to the body as transmitted (compressed).
		body := fmZlib(t, make([]byte, 1000), 9)
		require.Greater(t, len(body), 10)
		_, err = fmFeed(NewFrameDecoder(lim), fmRawFrame(1, body))
		require.ErrorIs(t, err, ErrFrameTooLarge)
	})
}

func TestFrameDecodeDecompressedLimit(t *testing.T) {
	payload := bytes.Repeat([]byte("ab"), 5000) // 10000 bytes
	frame := fmRawFrame(1, fmZlib(t, payload, 1))
	for _, tc := range []struct {
		limit int
		ok    bool
	}{{10000, true}, {9999, false}, {100000, true}, {1, false}} {
		got, err := fmFeed(NewFrameDecoder(FrameLimits{MaxDecompressed: tc.limit}), frame)
		if tc.ok {
			require.NoError(t, err, "limit %d", tc.limit)
			require.Equal(t, [][]byte{payload}, got)
			continue
		}
		require.ErrorIs(t, err, ErrDecompressedTooLarge, "limit %d", tc.limit)
		var fe *FrameError
		require.ErrorAs(t, err, &fe)
		require.EqualValues(t, tc.limit, fe.Limit)
		require.Greater(t, fe.Size, fe.Limit)
		require.Empty(t, got)
	}
}

// fmZeroBomb returns a zlib stream that inflates to mib MiB of zeros (about
// 1 KiB per MiB). Compressing a GiB takes minutes under -race, so the stream
// is assembled: with a sync flush after every MiB, the compressor emits the
// same bytes for every MiB once its window is full of zeros; the stream is
// the first MiB's bytes, the steady-state bytes repeated, the final block and
// the Adler-32 of mib MiB of zeros (a = 1, b = length mod 65521).
func fmZeroBomb(t testing.TB, mib int) []byte {
	t.Helper()
	require.GreaterOrEqual(t, mib, 3)
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, zlib.BestCompression)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	var parts [][]byte
	for range 3 {
		_, err = zw.Write(chunk)
		require.NoError(t, err)
		require.NoError(t, zw.Flush())
		parts = append(parts, bytes.Clone(b.Bytes()))
		b.Reset()
	}
	require.Equal(t, parts[1], parts[2], "steady-state output of a MiB of zeros")
	require.NoError(t, zw.Close())
	tail := bytes.Clone(b.Bytes())
	require.GreaterOrEqual(t, len(tail), 4)

	out := bytes.Clone(parts[0])
	for range mib - 1 {
		out = append(out, parts[1]...)
	}
	out = append(out, tail[:len(tail)-4]...)
	n := uint64(mib) << 20
	return binary.BigEndian.AppendUint32(out, uint32(n%65521)<<16|1)
}

func TestFrameZeroBombHelper(t *testing.T) {
	// The assembled stream is valid zlib data of the announced size.
	out := fmInflate(t, fmZeroBomb(t, 5))
	require.Len(t, out, 5<<20)
	require.Equal(t, -1, bytes.IndexFunc(out, func(r rune) bool { return r != 0 }))
}

func TestFrameDecodeZlibBomb(t *testing.T) {
	bomb := fmZeroBomb(t, 1<<10) // 1 GiB of zeros in about 1 MiB
	frame := fmRawFrame(1, bomb)
	limit := 8 << 20

	for _, name := range []string{"whole", "chunked", "default limits"} {
		t.Run(name, func(t *testing.T) {
			limit := limit
			if name == "default limits" {
				limit = DefaultMaxDecompressed
			}
			d := NewFrameDecoder(FrameLimits{MaxDecompressed: limit})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var err error
			if name == "whole" {
				_, err = fmFeed(d, frame)
			} else {
				_, err = fmFeed(d, fmRandomChunks(rand.New(rand.NewPCG(1, 1)), frame, 70000)...)
			}
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrDecompressedTooLarge)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("bomb of %d bytes → %d bytes allocated while decoding (limit %d)", len(bomb), alloc, limit)
			require.Less(t, alloc, uint64(2*limit+8*len(bomb)+1<<20), "allocation bounded by the limit")
		})
	}
}

func TestFrameDecodeCorrupt(t *testing.T) {
	payload := bytes.Repeat([]byte("hello world "), 500)
	good := fmZlib(t, payload, 1)
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 0xff
	badData := bytes.Clone(good)
	badData[2] = 0xff // invalid block type
	for _, tc := range []struct {
		name  string
		body  []byte
		cause error
	}{
		{"empty body", nil, io.ErrUnexpectedEOF},
		{"one byte", []byte{0x78}, io.ErrUnexpectedEOF},
		{"bad header", []byte{0x00, 0x01, 0x02, 0x03}, zlib.ErrHeader},
		{"raw deflate, not zlib", good[2 : len(good)-4], zlib.ErrHeader},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff}, zlib.ErrHeader},
		{"preset dictionary", []byte{0x78, 0xbb, 0, 0, 0, 2}, zlib.ErrDictionary},
		{"truncated stream", good[:len(good)/2], nil},
		{"missing checksum", good[:len(good)-4], io.ErrUnexpectedEOF},
		{"bad checksum", badSum, zlib.ErrChecksum},
		{"bad block", badData, nil},
		{"plain text", payload[:100], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				d := &FrameDecoder{}
				frame := fmRawFrame(1, tc.body)
				var err error
				if split {
					_, err = fmFeed(d, fmBytewise(frame)...)
				} else {
					_, err = fmFeed(d, frame)
				}
				require.ErrorIs(t, err, ErrCorruptFrame)
				if tc.cause != nil {
					require.ErrorIs(t, err, tc.cause)
				}
				var fe *FrameError
				require.ErrorAs(t, err, &fe)
				require.EqualValues(t, len(tc.body), fe.Size)
				// The decoder (and its reused zlib reader) still fails
				// cleanly after Reset and then decodes a good frame.
				d.Reset()
				got, err := fmFeed(d, fmRawFrame(1, good))
				require.NoError(t, err)
				require.Equal(t, [][]byte{payload}, got)
			}
		})
	}
}

func TestFrameDecodeCallbackError(t *testing.T) {
	frame := fmHex(t, "000000080012515011531151020a")
	in := bytes.Repeat(frame, 3)
	stop := errors.New("stop")
	calls := 0
	d := &FrameDecoder{}
	err := d.Feed(in, func([]byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	require.Same(t, stop, err, "fn's error is returned unchanged")
	require.Equal(t, 2, calls, "Feed stops at the failing frame")
	require.Same(t, stop, d.Feed(frame, func([]byte) error { calls++; return nil }), "sticky")
	require.Equal(t, 2, calls)

	// Also when the failing frame was assembled from pieces.
	d = &FrameDecoder{}
	require.NoError(t, d.Feed(frame[:7], nil))
	require.Same(t, stop, d.Feed(frame[7:], func([]byte) error { return stop }))
}

func TestFrameLimitsDefaults(t *testing.T) {
	require.Equal(t, FrameLimits{MaxFrame: 64 << 20, MaxDecompressed: 64 << 20}, DefaultFrameLimits())
	require.Equal(t, DefaultFrameLimits(), FrameLimits{}.normalized())
	require.Equal(t, DefaultFrameLimits(), FrameLimits{MaxFrame: -1, MaxDecompressed: -5}.normalized())
	require.Equal(t, FrameLimits{MaxFrame: 7, MaxDecompressed: DefaultMaxDecompressed}, FrameLimits{MaxFrame: 7}.normalized())
}

func TestFrameErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  *FrameError
		want string
	}{
		{&FrameError{Err: ErrFrameTooLarge, Size: 100, Limit: 10}, "codec: frame too large: 100 bytes, limit 10"},
		{&FrameError{Err: ErrCorruptFrame, Size: 3, Cause: zlib.ErrHeader}, "codec: corrupt compressed frame (body 3 bytes): zlib: invalid header"},
	} {
		require.Equal(t, tc.want, tc.err.Error())
		require.ErrorIs(t, tc.err, tc.err.Err)
		if tc.err.Cause != nil {
			require.ErrorIs(t, tc.err, tc.err.Cause)
		}
	}
	err := fmt.Errorf("wrapped: %w", &FrameError{Err: ErrDecompressedTooLarge, Size: 1})
	require.Equal(t, "wrapped: codec: decompressed frame too large: 1 bytes", err.Error())
	require.ErrorIs(t, err, ErrDecompressedTooLarge)
}
