package codec

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"unsafe"
	"weak"

	"github.com/stretchr/testify/require"
)

// keepMix returns n encoded messages of varied shape and size (fixed
// seed): CALLATTR requests and replies, most of them, and tuples of random
// strs, bytes, ints, floats, complex numbers, nested tuples, frozensets and
// slices, one in eight of them ten times larger. Every slab is used, by
// some messages only, and values are small (no chunk of their own).
func keepMix(tb testing.TB, n int) [][]byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	msgs := make([][]byte, n)
	for i := range msgs {
		var v any
		switch r.IntN(4) {
		case 0:
			v = callattrRequest(int64(i))
		case 1:
			v = Tuple{int64(2), int64(i), Tuple{int64(1), "x"}}
		default:
			items := r.IntN(20)
			if r.IntN(8) == 0 {
				items *= 10
			}
			var t Tuple
			for j := range items {
				switch r.IntN(8) {
				case 0:
					t = append(t, "s"+strconv.Itoa(r.IntN(1e6)))
				case 1:
					t = append(t, []byte("bytes "+strconv.Itoa(j)))
				case 2:
					t = append(t, int64(r.Uint64()>>1))
				case 3:
					t = append(t, r.Float64())
				case 4:
					t = append(t, complex(float64(j), 1))
				case 5:
					t = append(t, Tuple{int64(j), "y", Tuple{float64(j)}})
				case 6:
					t = append(t, FrozenSet{int64(1000 + j), "z"})
				case 7:
					t = append(t, Slice{Start: int64(j), Stop: int64(1000), Step: nil})
				}
			}
			v = Tuple{int64(1), int64(i), t}
		}
		enc, err := Append(nil, v)
		require.NoError(tb, err)
		msgs[i] = enc
	}
	return msgs
}

// keptBytes is how many bytes of slab memory the decoded value v takes in
// copying mode: item windows, boxes, and str and bytes data.
func keptBytes(v any) int {
	items := func(its []any) int {
		n := 16 * len(its)
		for _, it := range its {
			n += keptBytes(it)
		}
		return n
	}
	switch x := v.(type) {
	case Tuple:
		if len(x) == 0 {
			return 0
		}
		return int(unsafe.Sizeof(x)) + items(x)
	case FrozenSet:
		if len(x) == 0 {
			return 0
		}
		return int(unsafe.Sizeof(x)) + items(x)
	case Slice:
		return int(unsafe.Sizeof(x)) + items([]any{x.Start, x.Stop, x.Step})
	case string:
		if x == "" {
			return 0
		}
		return int(unsafe.Sizeof(x)) + len(x)
	case []byte:
		if len(x) == 0 {
			return 0
		}
		return int(unsafe.Sizeof(x)) + len(x)
	case int64:
		if x >= ImmIntMin && x <= ImmIntMax {
			return 0
		}
		return 8
	case float64:
		return 8
	case complex128:
		return 16
	}
	return 0
}

// In Keep mode a warm decoder allocates little more than the values it
// decodes take: its chunks are sized to what messages use, and little of
// them is left unused (for a steady stream of one message, nearly
// nothing; for a varied one, a fraction).
func TestDecoderKeepAllocatedBytes(t *testing.T) {
	callattr := appendCallattrRequest(nil, 1234)
	mix := keepMix(t, 4096)
	for _, c := range []struct {
		name     string
		msgs     [][]byte
		maxRatio float64
	}{
		{"callattr", [][]byte{callattr}, 1.15},
		{"mix", mix, 1.6},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 20000
			inherent := 0
			for i := range n {
				v, err := Decode(c.msgs[i%len(c.msgs)])
				require.NoError(t, err)
				inherent += keptBytes(v)
			}
			d := &Decoder{Keep: true}
			for i := range 1000 { // warm up
				_, _, err := d.Decode(c.msgs[i%len(c.msgs)])
				require.NoError(t, err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range n {
				if _, _, err := d.Decode(c.msgs[i%len(c.msgs)]); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			ratio := float64(allocated) / float64(inherent)
			t.Logf("%.0f bytes allocated per message, values take %.0f (%.2fx)", float64(allocated)/n, float64(inherent)/n, ratio)
			if raceEnabled {
				// Instrumented, slices.Grow allocates a temporary slice.
				t.Skip("allocations differ under the race detector")
			}
			require.LessOrEqual(t, ratio, c.maxRatio, "bytes allocated per byte of decoded values")
		})
	}
}

// heldBytes is how much chunk memory slab s holds on to (its current
// chunk).
func heldBytes[T any](s *slab[T]) int {
	if s.ci >= len(s.chunks) {
		return 0
	}
	var zero T
	return cap(s.chunks[s.ci]) * int(unsafe.Sizeof(zero))
}

func (d *Decoder) heldBytes() int {
	return heldBytes(&d.items) + heldBytes(&d.ints) + heldBytes(&d.floats) +
		heldBytes(&d.cplxs) + heldBytes(&d.strs) + heldBytes(&d.bytes) +
		heldBytes(&d.tuples) + heldBytes(&d.fsets) + heldBytes(&d.slices) +
		heldBytes(&d.raw)
}

// A Keep-mode decoder left idle holds little: after one small message,
// small first chunks; warm, about a generation's worth of chunks for the
// messages it decodes. Slabs that messages do not use take no chunk.
func TestDecoderKeepHolds(t *testing.T) {
	callattr := appendCallattrRequest(nil, 1234)
	d := &Decoder{Keep: true}
	_, _, err := d.Decode(callattr)
	require.NoError(t, err)
	held := d.heldBytes()
	t.Logf("after one message: %d bytes of chunks", held)
	require.LessOrEqual(t, held, 2<<10)
	for range 1000 {
		_, _, err := d.Decode(callattr)
		require.NoError(t, err)
	}
	held = d.heldBytes()
	t.Logf("after 1001 messages: %d bytes of chunks", held)
	require.LessOrEqual(t, held, 8<<10)
	require.Zero(t, heldBytes(&d.floats)+heldBytes(&d.cplxs)+heldBytes(&d.bytes)+heldBytes(&d.fsets)+heldBytes(&d.slices),
		"slabs the messages do not use")
}

// A value retained from a Keep-mode decoder keeps alive the chunks of its
// generation only: every chunk the decoder took for messages decoded well
// before or after it is collected once unreferenced, however many
// messages the decoder decoded (chunks must not chain generations).
func TestDecoderKeepGenerations(t *testing.T) {
	const n, every, window = 3000, 500, 128
	callattr := make([][]byte, n)
	for i := range callattr {
		callattr[i] = appendCallattrRequest(nil, int64(i))
	}
	for _, c := range []struct {
		name string
		msgs [][]byte
	}{{"mix", keepMix(t, n)}, {"callattr", callattr}} {
		t.Run(c.name, func(t *testing.T) {
			type chunk struct {
				at    int // message that first used it
				alive func() bool
			}
			var chunks []chunk
			last := map[string]unsafe.Pointer{}
			watch := func(at int, name string, p unsafe.Pointer, alive func() bool) {
				if p != last[name] {
					last[name] = p
					chunks = append(chunks, chunk{at, alive})
				}
			}
			d := &Decoder{Keep: true}
			var kept, want []any
			for i, m := range c.msgs {
				v, _, err := d.Decode(m)
				require.NoError(t, err)
				if i%every == every-1 {
					kept, want = append(kept, v), append(want, Clone(v))
				}
				watchChunk(i, &d.items, "items", watch)
				watchChunk(i, &d.ints, "ints", watch)
				watchChunk(i, &d.floats, "floats", watch)
				watchChunk(i, &d.cplxs, "cplxs", watch)
				watchChunk(i, &d.strs, "strs", watch)
				watchChunk(i, &d.bytes, "bytes", watch)
				watchChunk(i, &d.tuples, "tuples", watch)
				watchChunk(i, &d.fsets, "fsets", watch)
				watchChunk(i, &d.slices, "slices", watch)
				watchChunk(i, &d.raw, "raw", watch)
			}
			require.Greater(t, len(chunks), 1000, "chunks taken")
			d = nil
			clear(last)
			runtime.GC()
			runtime.GC()
			alive := 0
			for _, c := range chunks {
				if !c.alive() {
					continue
				}
				alive++
				// The retained value nearest.
				k := (c.at+every/2)/every*every - 1
				require.InDelta(t, k, c.at, window, "a chunk first used by message %d is alive, the retained values are of messages %d, %d, ...", c.at, every-1, 2*every-1)
			}
			t.Logf("%d of %d chunks alive, %d values retained", alive, len(chunks), len(kept))
			require.NotZero(t, alive)
			require.LessOrEqual(t, alive, 20*len(kept))
			requireValueEqual(t, want, kept)
			runtime.KeepAlive(kept)
		})
	}
}

// watchChunk reports the current chunk of s after message at, if any, to
// watch, with a function telling whether it is still alive. Chunks under 16 bytes are
// left out: the allocator may combine them.
func watchChunk[T any](at int, s *slab[T], name string, watch func(int, string, unsafe.Pointer, func() bool)) {
	if s.ci >= len(s.chunks) {
		return
	}
	c := s.chunks[s.ci]
	var zero T
	if len(c) == 0 || uintptr(cap(c))*unsafe.Sizeof(zero) < 16 {
		return
	}
	wp := weak.Make(&c[0])
	watch(at, name, unsafe.Pointer(&c[0]), func() bool { return wp.Value() != nil })
}

// Values decoded in Keep mode stay valid after the decoder goes back to
// reusing its storage.
func TestDecoderKeepThenReuse(t *testing.T) {
	d := &Decoder{Keep: true}
	v, _, err := d.Decode(appendCallattrRequest(nil, 1234))
	require.NoError(t, err)
	d.Keep = false
	for i := range 3 {
		_, _, err := d.Decode(appendCallattrRequest(nil, int64(i)))
		require.NoError(t, err)
	}
	requireValueEqual(t, callattrRequest(1234), v)
}
