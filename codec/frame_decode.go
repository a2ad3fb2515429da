package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/klauspost/compress/zlib"
	"io"
	"sync"
)

const (
	// minInflateBuffer is the smallest inflate buffer a FrameDecoder
	// allocates.
	minInflateBuffer = 4 << 10
	// smallFrame is the largest frame body (plus trailer) for which a
	// partial frame's buffer is allocated in full when it starts.
	smallFrame = 64 << 10
)

// FrameDecoder splits a byte stream into frames (PROTOCOL.md §3). It is a
// resumable parser: Feed accepts whatever bytes arrived — one byte, part of
// a frame, many frames — keeps the state of an incomplete frame, and hands
// every complete frame's payload to a callback. A FrameDecoder is not safe
// for concurrent use.
//
// The zero value is ready to use with the default limits.
type FrameDecoder struct {
	// Limits bounds the frames the decoder accepts; zero fields mean the
	// defaults (DefaultFrameLimits). Set it before the first Feed.
	Limits FrameLimits

	hdr    [FrameHeaderSize]byte // partial header
	nhdr   int                   // bytes in hdr
	inBody bool                  // a header was read; waiting for body+trailer
	size   int                   // body length of the current frame
	flag   byte                  // flag of the current frame
	body   []byte                // partial body+trailer, reused
	err    error                 // sticky error

	out []byte // inflate buffer, reused
}

// inflater is a pooled zlib reader with the reader of its input.
type inflater struct {
	br bytes.Reader
	zr io.ReadCloser // implements zlib.Resetter
}

var inflaters sync.Pool // *inflater

// NewFrameDecoder returns a FrameDecoder with the given limits (zero fields
// mean the defaults).
func NewFrameDecoder(l FrameLimits) *FrameDecoder {
	return &FrameDecoder{Limits: l}
}

// Feed consumes p and calls fn, in order, with the payload of every frame
// that p completes; an incomplete frame at the end of p is kept until more
// bytes arrive. Compressed frames (any non-zero flag) are inflated first;
// the trailer byte is consumed without being checked. Empty payloads are
// passed on too (a connection skips them).
//
// The payload is only valid until fn returns: it is either a subslice of p
// (a frame that lies entirely within p is never copied) or the decoder's
// internal buffer, which the next frame overwrites. fn must copy whatever it
// keeps and must not call Feed. A nil fn discards the payloads (compressed
// ones are still inflated and checked). Feed does not retain p.
//
// Errors: a header announcing more than Limits.MaxFrame fails at once with
// a *FrameError wrapping ErrFrameTooLarge (nothing of the body is
// buffered); a compressed body that inflates past Limits.MaxDecompressed
// fails with ErrDecompressedTooLarge, one that is not valid zlib data with
// ErrCorruptFrame. If fn returns an error, Feed stops and returns that error
// unchanged. Every error is final: the rest of p is dropped, the stream
// position is lost, and each later Feed returns the same error until Reset.
func (d *FrameDecoder) Feed(p []byte, fn func(payload []byte) error) error {
	if d.err != nil {
		return d.err
	}
	lim := d.Limits.normalized()
	for len(p) > 0 {
		if !d.inBody {
			if d.nhdr == 0 && len(p) >= FrameHeaderSize {
				// Fast path: header at hand; maybe the whole frame too.
				size, flag, err := d.header(p, lim)
				if err != nil {
					return d.fail(err)
				}
				p = p[FrameHeaderSize:]
				if len(p) > size {
					if err := d.deliver(p[:size], flag, lim, fn); err != nil {
						return d.fail(err)
					}
					p = p[size+1:]
					continue
				}
				d.inBody, d.size, d.flag = true, size, flag
				continue
			}
			n := copy(d.hdr[d.nhdr:], p)
			d.nhdr += n
			p = p[n:]
			if d.nhdr < FrameHeaderSize {
				break
			}
			d.nhdr = 0
			size, flag, err := d.header(d.hdr[:], lim)
			if err != nil {
				return d.fail(err)
			}
			d.inBody, d.size, d.flag = true, size, flag
			continue
		}

		need := d.size + 1 - len(d.body) // body bytes still missing, plus trailer
		if len(d.body) == 0 && len(p) >= need {
			// The whole body and trailer arrived in p: no copy.
			d.inBody = false
			if err := d.deliver(p[:d.size], d.flag, lim, fn); err != nil {
				return d.fail(err)
			}
			p = p[need:]
			continue
		}
		take := min(need, len(p))
		if cap(d.body)-len(d.body) < take {
			d.growBody(take)
		}
		d.body = append(d.body, p[:take]...)
		p = p[take:]
		if take < need {
			break
		}
		d.inBody = false
		err := d.deliver(d.body[:d.size], d.flag, lim, fn)
		d.releaseBody()
		if err != nil {
			return d.fail(err)
		}
	}
	return nil
}

// Buffered returns the number of bytes of an incomplete frame the decoder
// holds (header bytes included).
func (d *FrameDecoder) Buffered() int {
	if d.inBody {
		return FrameHeaderSize + len(d.body)
	}
	return d.nhdr
}

// Reset discards any incomplete frame and a previous error, so that the
// decoder can start on a new stream. Limits and reusable buffers are kept.
func (d *FrameDecoder) Reset() {
	d.nhdr, d.inBody, d.size, d.flag, d.err = 0, false, 0, 0, nil
	d.releaseBody()
}

// growBody makes room for n more bytes of the current frame. Small frames
// get their whole buffer at once; larger ones grow by doubling as their bytes
// arrive, so that a header alone cannot make the decoder allocate up to
// MaxFrame.
func (d *FrameDecoder) growBody(n int) {
	total := d.size + 1
	want := total
	if total > smallFrame {
		want = min(total, max(2*cap(d.body), len(d.body)+n, smallFrame))
	}
	grown := make([]byte, len(d.body), want)
	copy(grown, d.body)
	d.body = grown
}

// header parses a complete header at the start of h and checks the limit.
func (d *FrameDecoder) header(h []byte, lim FrameLimits) (size int, flag byte, err error) {
	n := binary.BigEndian.Uint32(h)
	if uint64(n) > uint64(lim.MaxFrame) {
		return 0, 0, &FrameError{Err: ErrFrameTooLarge, Size: int64(n), Limit: int64(lim.MaxFrame)}
	}
	return int(n), h[4], nil
}

// deliver passes one frame body to fn, inflating it if flag is non-zero.
func (d *FrameDecoder) deliver(body []byte, flag byte, lim FrameLimits, fn func([]byte) error) error {
	if flag != frameFlagRaw {
		var err error
		if body, err = d.inflate(body, lim.MaxDecompressed); err != nil {
			return err
		}
	}
	if fn == nil {
		return nil
	}
	return fn(body)
}

// inflate decompresses the zlib stream in body into the decoder's inflate
// buffer, never growing it beyond limit+1 bytes. Bytes after the end of the
// zlib stream are ignored, as Python's zlib.decompress does.
func (d *FrameDecoder) inflate(body []byte, limit int) ([]byte, error) {
	inf, _ := inflaters.Get().(*inflater)
	if inf == nil {
		inf = new(inflater)
	}
	defer func() {
		inf.br.Reset(nil) // do not pin body in the pool
		inflaters.Put(inf)
	}()
	inf.br.Reset(body)
	if inf.zr == nil {
		zr, err := zlib.NewReader(&inf.br)
		if err != nil {
			return nil, corruptFrameError(len(body), err)
		}
		inf.zr = zr
	} else if err := inf.zr.(zlib.Resetter).Reset(&inf.br, nil); err != nil {
		return nil, corruptFrameError(len(body), err)
	}
	out := d.out[:0]
	defer func() {
		if cap(out) <= maxRetainedBuffer {
			d.out = out[:0]
		} else {
			d.out = nil
		}
	}()
	for {
		if len(out) == cap(out) {
			// len(out) <= limit here, so limit+1 > cap(out). Double the
			// buffer, jumping straight to limit+1 (room to detect an
			// overflow) rather than to a full buffer of exactly limit.
			want := max(2*cap(out), 4*len(body), minInflateBuffer)
			if want >= limit {
				want = limit + 1
			}
			grown := make([]byte, len(out), want)
			copy(grown, out)
			out = grown
		}
		n, err := inf.zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return nil, &FrameError{Err: ErrDecompressedTooLarge, Size: int64(len(out)), Limit: int64(limit)}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, corruptFrameError(len(body), err)
		}
	}
}

func corruptFrameError(size int, cause error) error {
	if errors.Is(cause, io.EOF) {
		cause = io.ErrUnexpectedEOF
	}
	return &FrameError{Err: ErrCorruptFrame, Size: int64(size), Cause: cause}
}

// fail makes err sticky and drops any partial frame.
func (d *FrameDecoder) fail(err error) error {
	d.err = err
	d.nhdr, d.inBody = 0, false
	d.releaseBody()
	return err
}

// releaseBody empties the partial-frame buffer, freeing it when large.
func (d *FrameDecoder) releaseBody() {
	if cap(d.body) > maxRetainedBuffer {
		d.body = nil
	} else {
		d.body = d.body[:0]
	}
}
