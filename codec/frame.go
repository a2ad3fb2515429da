package codec

import (
	"encoding/binary"
	"fmt"
	"github.com/klauspost/compress/zlib"
	"math"
	"sync"
)

// Channel framing (PROTOCOL.md §3): every message travels in one frame
//
//	length uint32 BE | flag byte | body (length bytes) | trailer byte
//
// where length counts the body as transmitted (compressed size when the flag
// is non-zero) and excludes header and trailer.
const (
	// FrameHeaderSize is the size of the frame header: a 4-byte big-endian
	// body length and a 1-byte compression flag.
	FrameHeaderSize = 5
	// FrameTrailer is the byte Python writes after every frame body. It is
	// not counted in the length and receivers drop it without checking it.
	FrameTrailer byte = 0x0A
	// CompressionThreshold is the payload size above which (strictly) Python
	// compresses a frame when compression is enabled.
	CompressionThreshold = 3000
	// CompressionLevel is the zlib level Python uses (1, zlib.BestSpeed).
	CompressionLevel = zlib.BestSpeed
	// MaxFrameBody is the largest body a frame header can announce
	// (4 GiB − 1).
	MaxFrameBody = math.MaxUint32

	// DefaultMaxFrame is the default limit on a frame body as transmitted
	// (64 MiB).
	DefaultMaxFrame = 64 << 20
	// DefaultMaxDecompressed is the default limit on the payload a
	// compressed frame may inflate to (64 MiB).
	DefaultMaxDecompressed = 64 << 20
)

// Frame flag values written by the encoder. A receiver treats every non-zero
// flag as "compressed".
const (
	frameFlagRaw        byte = 0
	frameFlagCompressed byte = 1
)

// frameBodyLimit is MaxFrameBody; a variable so tests can exercise the
// oversize path without building a 4 GiB payload.
var frameBodyLimit uint64 = MaxFrameBody

// maxRetainedBuffer is the largest buffer (compression scratch, partial
// frame, inflate buffer) kept for reuse after a frame; larger ones are
// released so that one huge frame does not pin its memory for the life of a
// connection.
const maxRetainedBuffer = 4 << 20

// FrameLimits bounds what a FrameDecoder accepts. A zero or negative field
// means its default.
type FrameLimits struct {
	// MaxFrame limits the body length announced by a frame header (the body
	// as transmitted, i.e. compressed size for compressed frames). A larger
	// announcement fails with an error wrapping ErrFrameTooLarge before any
	// of the body is buffered.
	MaxFrame int
	// MaxDecompressed limits the payload a compressed frame may inflate to.
	// Inflating past it fails with an error wrapping
	// ErrDecompressedTooLarge; the inflate buffer never grows beyond
	// MaxDecompressed+1 bytes, so a zlib bomb costs at most about twice the
	// limit in allocations.
	MaxDecompressed int
}

// DefaultFrameLimits returns the default limits: DefaultMaxFrame and
// DefaultMaxDecompressed.
func DefaultFrameLimits() FrameLimits {
	return FrameLimits{MaxFrame: DefaultMaxFrame, MaxDecompressed: DefaultMaxDecompressed}
}

// normalized returns l with zero or negative fields replaced by defaults.
func (l FrameLimits) normalized() FrameLimits {
	if l.MaxFrame <= 0 {
		l.MaxFrame = DefaultMaxFrame
	}
	if l.MaxDecompressed <= 0 {
		l.MaxDecompressed = DefaultMaxDecompressed
	}
	return l
}

// FrameError is the error a FrameDecoder or FrameEncoder returns for a frame
// it refuses. It wraps Err (ErrFrameTooLarge, ErrDecompressedTooLarge or
// ErrCorruptFrame) and, for corrupt frames, the zlib error in Cause, so both
// can be tested with errors.Is.
type FrameError struct {
	// Err is the sentinel: ErrFrameTooLarge, ErrDecompressedTooLarge or
	// ErrCorruptFrame.
	Err error
	// Size is the body length announced by the header (ErrFrameTooLarge,
	// ErrCorruptFrame) or the number of bytes inflated when the limit was
	// crossed (ErrDecompressedTooLarge: at least Limit+1).
	Size int64
	// Limit is the limit that was exceeded; 0 for ErrCorruptFrame.
	Limit int64
	// Cause is the underlying error (the zlib error of a corrupt frame), or
	// nil.
	Cause error
}

// Error implements error.
func (e *FrameError) Error() string {
	switch {
	case e.Cause != nil:
		return fmt.Sprintf("%v (body %d bytes): %v", e.Err, e.Size, e.Cause)
	case e.Limit > 0:
		return fmt.Sprintf("%v: %d bytes, limit %d", e.Err, e.Size, e.Limit)
	default:
		return fmt.Sprintf("%v: %d bytes", e.Err, e.Size)
	}
}

// Unwrap returns Err and, when set, Cause.
func (e *FrameError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// FrameEncoder builds frames. Its zlib writers and compression scratch
// buffers come from a package-wide pool, so after warm-up encoding allocates
// nothing and an idle encoder holds no memory. A FrameEncoder may be used by
// several goroutines at once (each frame is built in the caller's buffer).
//
// The zero value never compresses; NewFrameEncoder returns one that
// compresses as Python does.
type FrameEncoder struct {
	// Compress enables zlib compression (level 1) of payloads longer than
	// CompressionThreshold bytes, as Python does by default, but only where
	// it pays. Python compresses every such payload, even when that makes
	// the body larger; this encoder first deflates a sample (the first 4 KiB
	// of the payload, or all of it when it is shorter) and sends the frame
	// uncompressed (flag 0) unless the sample shrinks by at least 1/16th; it
	// then finishes the stream and still sends the raw payload if the
	// compressed body is not smaller. Incompressible payloads (random bytes,
	// already compressed data such as images or archives) so cost neither
	// side a deflate or an inflate pass for nothing. A payload whose first
	// 4 KiB are incompressible but whose rest would compress is sent
	// uncompressed: correct, only less compact.
	//
	// The result is wire-compatible: the flag tells the receiver whether
	// the body is compressed, and Python (like FrameDecoder) accepts
	// uncompressed frames of any size, so turning Compress off is always
	// safe too.
	Compress bool
}

// NewFrameEncoder returns a FrameEncoder with compression on (Python's
// default).
func NewFrameEncoder() *FrameEncoder {
	return &FrameEncoder{Compress: true}
}

// AppendFrame appends a whole frame carrying payload to dst and returns the
// extended buffer. payload must not overlap the unused capacity of dst.
// Uncompressed frames make no allocation when dst has room for
// len(payload)+6 bytes.
//
// A frame whose body would exceed MaxFrameBody (4 GiB − 1) cannot be sent:
// AppendFrame then returns the buffer without the frame (dst's content) and
// an error wrapping ErrFrameTooLarge.
func (e *FrameEncoder) AppendFrame(dst, payload []byte) ([]byte, error) {
	buf, start := e.Begin(dst)
	buf = append(buf, payload...)
	return e.Finish(buf, start)
}

// Begin starts a frame at the end of dst: it reserves the header and returns
// the buffer with the start offset of the frame. The caller appends the
// payload to buf (e.g. with AppendMessageHeader and Append) and passes the
// result with start to Finish. Nothing but the payload may be appended in
// between.
func (e *FrameEncoder) Begin(dst []byte) (buf []byte, start int) {
	start = len(dst)
	return append(dst, 0, 0, 0, 0, 0), start
}

// Finish completes the frame begun at buf[start] by Begin: everything after
// the reserved header is the payload. When Compress is on and the payload is
// longer than CompressionThreshold, it replaces the payload in place by its
// zlib compression if that pays (see FrameEncoder.Compress). It fills in the
// header, appends the trailer and returns the buffer (which may have been
// reallocated).
//
// If the body would exceed MaxFrameBody, or start is not the value Begin
// returned for buf, Finish returns buf[:start] (the frame removed) and an
// error; the former wraps ErrFrameTooLarge.
func (e *FrameEncoder) Finish(buf []byte, start int) ([]byte, error) {
	if start < 0 || start > len(buf)-FrameHeaderSize {
		err := fmt.Errorf("codec: FrameEncoder.Finish: frame start %d outside buffer of %d bytes", start, len(buf))
		if start >= 0 && start <= len(buf) {
			buf = buf[:start]
		}
		return buf, err
	}
	body := start + FrameHeaderSize
	flag := frameFlagRaw
	if e.Compress && len(buf)-body > CompressionThreshold {
		var (
			compressed bool
			err        error
		)
		if buf, compressed, err = e.compress(buf, body); err != nil {
			return buf[:start], err
		}
		if compressed {
			flag = frameFlagCompressed
		}
	}
	n := uint64(len(buf) - body)
	if n > frameBodyLimit {
		return buf[:start], &FrameError{Err: ErrFrameTooLarge, Size: int64(n), Limit: int64(frameBodyLimit)}
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	buf[start+4] = flag
	return append(buf, FrameTrailer), nil
}

// deflater is a pooled zlib writer with the buffer it writes to.
type deflater struct {
	zw   *zlib.Writer
	sink frameSink
}

var deflaters sync.Pool // *deflater

// compressSample is the number of leading payload bytes the encoder deflates
// first to judge whether the payload compresses at all.
const compressSample = 4 << 10

// compressSampleGain is the fraction by which the sample must shrink (its
// deflated size, zlib header and flush marker included, below
// sample − sample/compressSampleGain) for the encoder to compress the rest.
const compressSampleGain = 16

// compress replaces buf[body:] with its zlib (level 1) compression when that
// pays and reports whether it did; otherwise buf is returned unchanged.
//
// The payload is deflated into the pooled deflater's sink, so the raw bytes
// stay in buf until the compressed body is known to be smaller. A payload
// longer than compressSample is probed first: its first compressSample bytes
// are written and flushed (a sync flush, which keeps the match history, so
// the stream simply continues when the probe succeeds), and the payload is
// left raw when they do not shrink by 1/compressSampleGain.
func (e *FrameEncoder) compress(buf []byte, body int) ([]byte, bool, error) {
	df, _ := deflaters.Get().(*deflater)
	if df == nil {
		df = new(deflater)
		zw, err := zlib.NewWriterLevel(&df.sink, CompressionLevel)
		if err != nil { // only for an invalid level
			return buf, false, err
		}
		df.zw = zw
	} else {
		df.zw.Reset(&df.sink)
	}
	df.sink.b = df.sink.b[:0]
	payload := buf[body:]
	rest := payload
	// Writes to a frameSink cannot fail.
	if len(payload) > compressSample {
		sample := payload[:compressSample]
		_, _ = df.zw.Write(sample)
		_ = df.zw.Flush()
		if len(df.sink.b) >= len(sample)-len(sample)/compressSampleGain {
			df.release()
			return buf, false, nil
		}
		rest = payload[compressSample:]
	}
	_, _ = df.zw.Write(rest)
	_ = df.zw.Close()
	compressed := len(df.sink.b) < len(payload)
	if compressed {
		buf = append(buf[:body], df.sink.b...)
	}
	df.release()
	return buf, compressed, nil
}

// release returns df to the pool, dropping an oversized sink.
func (df *deflater) release() {
	if cap(df.sink.b) > maxRetainedBuffer {
		df.sink.b = nil
	}
	deflaters.Put(df)
}

// frameSink is an io.Writer appending to a byte slice.
type frameSink struct{ b []byte }

func (w *frameSink) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
