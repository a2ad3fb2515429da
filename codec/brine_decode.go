package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxDepth is the default nesting limit of a Decoder.
const DefaultMaxDepth = 1000

// Decoder decodes brine values. The zero value is ready to use (copying
// mode, DefaultMaxDepth). A Decoder is not safe for concurrent use and must
// not be copied after first use; it reuses its storage, so values it
// returns are valid until its next call.
//
// Storage and lifetimes: tuple items, the boxes behind the interface values
// it returns (int64, float64, complex128, string, []byte, Tuple, FrozenSet,
// Slice) and, in copying mode, the bytes of strings and bytes values all live
// in slabs owned by the Decoder and are overwritten by its next Decode. A
// warm Decoder therefore decodes ordinary messages without allocating (ints
// beyond int64 still allocate a *big.Int). Values that must outlive the next
// Decode are copied with Clone. A Decoder that once decoded a very large
// value keeps at most a few MiB of that storage for reuse.
//
// The decoder never panics, bounds-checks every read, and allocates at most
// in proportion to the input: a length or item count larger than the rest
// of the input is ErrTruncated before any allocation. Nesting is handled
// with an explicit stack (no recursion), limited by MaxDepth (ErrTooDeep).
type Decoder struct {
	// View makes decoded []byte and string values alias the input instead of
	// copying it. []byte values are then subslices of the input whose
	// capacity ends at their length (appending to them reallocates rather
	// than clobbering the input); strings share the input's memory, so the
	// input must not be modified while they are in use.
	View bool
	// MaxDepth limits nesting of tuples, frozensets and slices; 0 means
	// DefaultMaxDepth.
	MaxDepth int
	// Keep makes every value stay valid for as long as it is referenced:
	// storage is never reused. Each Decode carves its values from the rest
	// of the current chunks; chunks are left to the garbage collector (a
	// chunk lives on while a value in it is referenced) and new ones taken,
	// sized by what recent messages used: a warm Decoder allocates little
	// more than its values take, about one chunk per kind of value every
	// keepMessages messages (every few messages if they are large). A
	// retained value keeps alive its chunk and the other chunks of its
	// generation (about one per kind of value, at most keepChunkBytes
	// each; see keepAll). Combined with copying mode (View false), nothing
	// decoded aliases the input, which may be reused at once.
	Keep bool

	stack   []frame
	items   slab[any]
	ints    slab[int64]
	floats  slab[float64]
	cplxs   slab[complex128]
	strs    slab[string]
	bytes   slab[[]byte]
	tuples  slab[Tuple]
	fsets   slab[FrozenSet]
	slices  slab[Slice]
	raw     slab[byte] // copies of str/bytes data in copying mode
	scratch []byte     // cleaned decimal text of non-canonical ints
	msgs    uint       // messages decoded in Keep mode
}

// frame is an open container on the decoder's explicit stack.
type frame struct {
	items []any // window in the item slab, one slot per item
	i     int   // items decoded so far
	kind  uint8
}

const (
	kindTuple uint8 = iota
	kindFrozenSet
	kindSlice
)

// Decode decodes one value from the start of b and returns it with the
// number of bytes it used. Trailing bytes are left to the caller. On error v
// is nil and n is 0; the error wraps ErrTruncated, ErrUnknownTag, ErrInvalid,
// ErrTooDeep or ErrTooLarge (an int of more than MaxIntDigits digits). The
// returned value is valid until the next call on d (see Decoder).
func (d *Decoder) Decode(b []byte) (v any, n int, err error) {
	d.reset()
	v, n, err = d.decode(b)
	if err != nil {
		return nil, 0, err
	}
	return v, n, nil
}

// Decode decodes exactly one value from b into fresh memory (no aliasing);
// trailing bytes are an error wrapping ErrInvalid.
func Decode(b []byte) (any, error) {
	var d Decoder
	v, n, err := d.decode(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the value", ErrInvalid, len(b)-n)
	}
	return v, nil
}

// Release drops the storage d keeps for reuse (values previously returned
// stay valid as long as they are referenced).
func (d *Decoder) Release() {
	stack := d.stack[:0]
	*d = Decoder{View: d.View, MaxDepth: d.MaxDepth, Keep: d.Keep}
	d.stack = stack
}

// retainBytes is how much slab memory (per slab) a Decoder keeps between
// calls.
const retainBytes = 4 << 20

func (d *Decoder) reset() {
	if d.Keep {
		d.keepAll()
	} else {
		d.resetSlabs()
	}
	if cap(d.scratch) > retainBytes {
		d.scratch = nil
	}
	if uintptr(cap(d.stack))*unsafe.Sizeof(frame{}) > retainBytes {
		d.stack = nil
	}
}

// keepAll readies the slabs for the next message in Keep mode, and starts
// a new generation of chunks when one is due.
//
// The values of one message point into the chunks current while it was
// decoded, so chunks that lived on across generations would chain each
// generation to the one before (a new items chunk holding tuples whose
// windows lie in a strings chunk that holds... ), and a busy decoder would
// keep every chunk it ever filled. All slabs therefore leave their chunks
// together, at a message boundary: the chunks of one generation point only
// to each other, and die with their values.
//
// A generation ends after a message for which a slab rolled (its chunk
// filled mid-message, and it took another, sized for the rest of that
// message only), or once the room left in the current chunks is less than
// a message takes of them on average. The first chunks of a generation are
// sized for the same number of messages of each slab's average use
// (keepMessages, or fewer if a chunk would exceed keepChunkBytes), and at
// least the most a recent message took, so that the slabs fill at about
// the same message and little room is left unused when the generation
// ends. A slab takes its chunk when it is first used: a slab that messages
// do not use takes none, and a decoder left idle holds only the chunks of
// the messages it decoded.
func (d *Decoder) keepAll() {
	if !d.items.keep {
		// The first message in Keep mode (the chunks of a reusing decoder,
		// if any, hold nothing valid: let them go).
		d.items, d.ints, d.floats = slab[any]{keep: true}, slab[int64]{keep: true}, slab[float64]{keep: true}
		d.cplxs, d.strs, d.bytes = slab[complex128]{keep: true}, slab[string]{keep: true}, slab[[]byte]{keep: true}
		d.tuples, d.fsets, d.slices = slab[Tuple]{keep: true}, slab[FrozenSet]{keep: true}, slab[Slice]{keep: true}
		d.raw = slab[byte]{keep: true}
		return
	}
	d.msgs++
	w := d.msgs%keepPeakWindow == 0
	var t keepTally
	d.items.endMessage(w, &t)
	d.ints.endMessage(w, &t)
	d.floats.endMessage(w, &t)
	d.cplxs.endMessage(w, &t)
	d.strs.endMessage(w, &t)
	d.bytes.endMessage(w, &t)
	d.tuples.endMessage(w, &t)
	d.fsets.endMessage(w, &t)
	d.slices.endMessage(w, &t)
	d.raw.endMessage(w, &t)
	if !t.rolled && t.room >= t.need {
		return
	}
	k := d.items.fit(keepMessages)
	k = d.ints.fit(k)
	k = d.floats.fit(k)
	k = d.cplxs.fit(k)
	k = d.strs.fit(k)
	k = d.bytes.fit(k)
	k = d.tuples.fit(k)
	k = d.fsets.fit(k)
	k = d.slices.fit(k)
	k = d.raw.fit(k)
	k = max(k, 1)
	d.items.drop(k)
	d.ints.drop(k)
	d.floats.drop(k)
	d.cplxs.drop(k)
	d.strs.drop(k)
	d.bytes.drop(k)
	d.tuples.drop(k)
	d.fsets.drop(k)
	d.slices.drop(k)
	d.raw.drop(k)
}

func (d *Decoder) resetSlabs() {
	d.items.reset()
	d.ints.reset()
	d.floats.reset()
	d.cplxs.reset()
	d.strs.reset()
	d.bytes.reset()
	d.tuples.reset()
	d.fsets.reset()
	d.slices.reset()
	d.raw.reset()
}

func truncated(what string, pos int) error {
	return fmt.Errorf("%w: %s at offset %d", ErrTruncated, what, pos)
}

func (d *Decoder) decode(b []byte) (any, int, error) {
	maxDepth := d.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	stack := d.stack[:0]
	// pending counts the items of open containers not yet started; each
	// needs at least one more input byte.
	pending := 0
	pos := 0
	var v any
	var err error
next:
	for {
		if len(stack) > 0 {
			pending--
		}
		if pos >= len(b) {
			if pos == 0 {
				return nil, 0, fmt.Errorf("%w: empty input", ErrTruncated)
			}
			return nil, 0, truncated("value", pos)
		}
		tag := b[pos]
		pos++
		cnt, kind := 0, kindTuple
		switch {
		case tag >= TagImmIntFirst && tag <= TagImmIntLast:
			v = immInts[tag-TagImmIntFirst]
			goto deliver
		case tag >= TagTup1 && tag <= TagTup1+3:
			cnt = int(tag-TagTup1) + 1
			goto push
		case tag >= TagStr1 && tag <= TagStrL4, tag == TagEmptyStr:
			var data []byte
			if data, pos, err = readBytes(b, pos-1); err != nil {
				return nil, 0, err
			}
			v = d.bytesValue(data)
			goto deliver
		}
		switch tag {
		case TagNone:
			v = nil
		case TagEmptyTuple:
			v = emptyTuple
		case TagTrue:
			v = true
		case TagFalse:
			v = false
		case TagNotImplemented:
			v = NotImplemented
		case TagEllipsis:
			v = Ellipsis
		case TagUnicode:
			if pos >= len(b) {
				return nil, 0, truncated("str", pos)
			}
			if t := b[pos]; !(t == TagEmptyStr || t >= TagStr1 && t <= TagStrL4) {
				return nil, 0, fmt.Errorf("%w: str tag 0x08 followed by tag 0x%02x, not bytes, at offset %d", ErrInvalid, t, pos)
			}
			var data []byte
			if data, pos, err = readBytes(b, pos); err != nil {
				return nil, 0, err
			}
			if !utf8.Valid(data) {
				return nil, 0, fmt.Errorf("%w: str is not valid UTF-8, before offset %d", ErrInvalid, pos)
			}
			v = d.strValue(data)
		case TagTupL1, TagTupL4:
			if cnt, pos, err = readTupleCount(b, pos-1); err != nil {
				return nil, 0, err
			}
			if cnt == 0 {
				v = emptyTuple
				break
			}
			goto push
		case TagIntL1, TagIntL4:
			var text []byte
			if text, pos, err = readLenPrefixed(b, pos, tag == TagIntL4, "int"); err != nil {
				return nil, 0, err
			}
			if v, err = d.intValue(text); err != nil {
				return nil, 0, fmt.Errorf("%w, before offset %d", err, pos)
			}
		case TagFloat:
			if len(b)-pos < 8 {
				return nil, 0, truncated("float", pos)
			}
			p := d.floats.one()
			*p = math.Float64frombits(binary.BigEndian.Uint64(b[pos:]))
			v = makeIface(float64Type, unsafe.Pointer(p))
			pos += 8
		case TagComplex:
			if len(b)-pos < 16 {
				return nil, 0, truncated("complex", pos)
			}
			p := d.cplxs.one()
			*p = complex(math.Float64frombits(binary.BigEndian.Uint64(b[pos:])),
				math.Float64frombits(binary.BigEndian.Uint64(b[pos+8:])))
			v = makeIface(complex128Type, unsafe.Pointer(p))
			pos += 16
		case TagSlice:
			if cnt, pos, err = readTupleCount(b, pos); err != nil {
				return nil, 0, fmt.Errorf("slice: %w", err)
			}
			if cnt != 3 {
				return nil, 0, fmt.Errorf("%w: slice of a %d-tuple, want 3, before offset %d", ErrInvalid, cnt, pos)
			}
			kind = kindSlice
			goto push
		case TagFrozenSet:
			if cnt, pos, err = readTupleCount(b, pos); err != nil {
				return nil, 0, fmt.Errorf("frozenset: %w", err)
			}
			if cnt == 0 {
				v = emptyFrozenSet
				break
			}
			kind = kindFrozenSet
			goto push
		default:
			return nil, 0, fmt.Errorf("%w: 0x%02x at offset %d", ErrUnknownTag, tag, pos-1)
		}
		goto deliver

	push:
		if len(stack) >= maxDepth {
			return nil, 0, fmt.Errorf("%w: more than %d nested containers at offset %d", ErrTooDeep, maxDepth, pos)
		}
		if cnt > len(b)-pos-pending {
			return nil, 0, truncated(fmt.Sprintf("%d-item container", cnt), pos)
		}
		if len(stack) == cap(stack) {
			stack = append(stack, frame{})
			d.stack = stack[:0] // keep the grown stack for the next call
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, frame{items: d.items.take(cnt), kind: kind})
		pending += cnt
		continue next

	deliver:
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			top.items[top.i] = v
			top.i++
			if top.i < len(top.items) {
				continue next
			}
			v = d.build(top)
			stack = stack[:len(stack)-1]
		}
		return v, pos, nil
	}
}

// build turns a complete frame into its value.
func (d *Decoder) build(f *frame) any {
	switch f.kind {
	case kindFrozenSet:
		p := d.fsets.one()
		*p = FrozenSet(f.items)
		return makeIface(frozenSetType, unsafe.Pointer(p))
	case kindSlice:
		p := d.slices.one()
		*p = Slice{Start: f.items[0], Stop: f.items[1], Step: f.items[2]}
		return makeIface(sliceType, unsafe.Pointer(p))
	}
	p := d.tuples.one()
	*p = Tuple(f.items)
	return makeIface(tupleType, unsafe.Pointer(p))
}

// readBytes reads the bytes encoding whose tag is at b[pos] and returns its
// data (aliasing b) and the offset after it.
func readBytes(b []byte, pos int) ([]byte, int, error) {
	tag := b[pos]
	pos++
	switch {
	case tag == TagEmptyStr:
		return b[pos:pos:pos], pos, nil
	case tag >= TagStr1 && tag < TagStrL1:
		n := int(tag-TagStr1) + 1
		if len(b)-pos < n {
			return nil, 0, truncated("bytes", pos)
		}
		return b[pos : pos+n : pos+n], pos + n, nil
	}
	return readLenPrefixed(b, pos, tag == TagStrL4, "bytes")
}

// readLenPrefixed reads a uint8 (or, if long, uint32) length at b[pos] and
// that many bytes.
func readLenPrefixed(b []byte, pos int, long bool, what string) ([]byte, int, error) {
	var n64 uint64 // compared before converting: int may have 32 bits
	if long {
		if len(b)-pos < 4 {
			return nil, 0, truncated(what+" length", pos)
		}
		n64 = uint64(binary.BigEndian.Uint32(b[pos:]))
		pos += 4
	} else {
		if pos >= len(b) {
			return nil, 0, truncated(what+" length", pos)
		}
		n64 = uint64(b[pos])
		pos++
	}
	if n64 > uint64(len(b)-pos) {
		return nil, 0, truncated(fmt.Sprintf("%s of %d bytes", what, n64), pos)
	}
	n := int(n64)
	return b[pos : pos+n : pos+n], pos + n, nil
}

// readTupleCount reads a tuple header at b[pos] and returns its item count.
// Any other tag is ErrInvalid (it is used after the slice and frozenset
// tags, which must be followed by a tuple).
func readTupleCount(b []byte, pos int) (int, int, error) {
	if pos >= len(b) {
		return 0, 0, truncated("tuple", pos)
	}
	tag := b[pos]
	pos++
	switch {
	case tag == TagEmptyTuple:
		return 0, pos, nil
	case tag >= TagTup1 && tag <= TagTup1+3:
		return int(tag-TagTup1) + 1, pos, nil
	case tag == TagTupL1:
		if pos >= len(b) {
			return 0, 0, truncated("tuple length", pos)
		}
		return int(b[pos]), pos + 1, nil
	case tag == TagTupL4:
		if len(b)-pos < 4 {
			return 0, 0, truncated("tuple length", pos)
		}
		// Each item takes at least one byte; checking here also keeps a
		// count >= 2**31 from turning negative where int has 32 bits.
		n := uint64(binary.BigEndian.Uint32(b[pos:]))
		if n > uint64(len(b)-pos-4) {
			return 0, 0, truncated(fmt.Sprintf("%d-item tuple", n), pos+4)
		}
		return int(n), pos + 4, nil
	}
	return 0, 0, fmt.Errorf("%w: tag 0x%02x where a tuple is required, at offset %d", ErrInvalid, tag, pos-1)
}

// bytesValue boxes a bytes value (data aliases the input).
func (d *Decoder) bytesValue(data []byte) any {
	if len(data) == 0 {
		return emptyBytes
	}
	if !d.View {
		if b := d.recycledCopy(data); b != nil {
			data = b
		} else {
			data = d.raw.copyOf(data)
		}
	}
	p := d.bytes.one()
	*p = data
	return makeIface(bytesType, unsafe.Pointer(p))
}

// recycledCopy copies a large value into recycled memory (Keep mode
// only: in the other modes values are overwritten by the next decode, and
// nobody recycles them), or returns nil.
func (d *Decoder) recycledCopy(data []byte) []byte {
	if !d.Keep || len(data) < recycleMin {
		return nil
	}
	b := recycled(len(data))
	if b != nil {
		copy(b, data)
	}
	return b
}

// strValue boxes a str value (data aliases the input and is valid UTF-8).
func (d *Decoder) strValue(data []byte) any {
	if len(data) == 0 {
		return emptyStr
	}
	if !d.View {
		data = d.raw.copyOf(data)
	}
	p := d.strs.one()
	*p = unsafe.String(&data[0], len(data))
	return makeIface(stringType, unsafe.Pointer(p))
}

// boxInt boxes an int64 without allocating.
func (d *Decoder) boxInt(x int64) any {
	if x >= ImmIntMin && x <= ImmIntMax {
		return immInts[x-ImmIntMin]
	}
	p := d.ints.one()
	*p = x
	return makeIface(int64Type, unsafe.Pointer(p))
}

// intValue parses the decimal text of an int the way Python's int() does
// for bytes: optional surrounding ASCII whitespace, an optional sign, and
// digits with single underscores between them. The result is an int64 when
// it fits, else a *big.Int.
func (d *Decoder) intValue(text []byte) (any, error) {
	// Fast path: plain digits with an optional '-', fitting in an int64.
	if s := text; len(s) > 0 && len(s) <= 20 {
		neg := s[0] == '-'
		if neg {
			s = s[1:]
		}
		if x, ok := digitsToInt64(s, neg); ok {
			return d.boxInt(x), nil
		}
	}
	return d.intSlow(text)
}

// digitsToInt64 converts 1 to 19 ASCII digits (with the sign given apart)
// when they are all digits and the value fits in an int64.
func digitsToInt64(s []byte, neg bool) (int64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var u uint64 // 19 digits always fit in a uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func isPySpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

func (d *Decoder) intSlow(text []byte) (any, error) {
	s := text
	for len(s) > 0 && isPySpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isPySpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	// Validate and collect the digits (without underscores) into scratch.
	digits := d.scratch[:0]
	ndigits := 0
	significant := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			ndigits++
			if c == '0' && !significant {
				continue // leading zero
			}
			significant = true
			digits = append(digits, c)
		case c == '_' && i > 0 && i+1 < len(s) && s[i-1] != '_' && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			d.scratch = digits
			return nil, fmt.Errorf("%w: invalid literal for int(): %q", ErrInvalid, clip(text))
		}
	}
	d.scratch = digits
	if ndigits == 0 {
		return nil, fmt.Errorf("%w: invalid literal for int(): %q", ErrInvalid, clip(text))
	}
	if ndigits > MaxIntDigits {
		return nil, fmt.Errorf("%w: int of %d digits exceeds the limit of %d", ErrTooLarge, ndigits, MaxIntDigits)
	}
	mag := digits // significant digits only
	if len(mag) == 0 {
		return immInts[-ImmIntMin], nil
	}
	if x, ok := digitsToInt64(mag, neg); ok {
		return d.boxInt(x), nil
	}
	bi := new(big.Int)
	if _, ok := bi.SetString(unsafe.String(&mag[0], len(mag)), 10); !ok {
		return nil, fmt.Errorf("%w: invalid literal for int(): %q", ErrInvalid, clip(text))
	}
	if neg {
		bi.Neg(bi)
	}
	return bi, nil
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// Clone returns a deep copy of v that shares no memory with any input or
// Decoder. Values outside the model are returned as they are.
func Clone(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		return x
	case int64:
		return x
	case float64:
		return x
	case complex128:
		return x
	case Singleton:
		return x
	case string:
		return strings.Clone(x)
	case []byte:
		if x == nil {
			return []byte(nil)
		}
		return append(make([]byte, 0, len(x)), x...)
	case Tuple:
		return Tuple(cloneItems(x))
	case []any:
		return cloneItems(x)
	case FrozenSet:
		return FrozenSet(cloneItems(x))
	case Slice:
		return Slice{Start: Clone(x.Start), Stop: Clone(x.Stop), Step: Clone(x.Step)}
	case *big.Int:
		if x == nil {
			return x
		}
		return new(big.Int).Set(x)
	case int:
		return x
	case int8:
		return x
	case int16:
		return x
	case int32:
		return x
	case uint:
		return x
	case uint8:
		return x
	case uint16:
		return x
	case uint32:
		return x
	case uint64:
		return x
	case float32:
		return x
	case complex64:
		return x
	}
	return v
}

func cloneItems(items []any) []any {
	if items == nil {
		return nil
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = Clone(it)
	}
	return out
}

// Boxes that never change, shared by all decoders.
var (
	immInts        [ImmIntMax - ImmIntMin + 1]any
	emptyTuple     any = Tuple{}
	emptyFrozenSet any = FrozenSet{}
	emptyBytes     any = []byte{}
	emptyStr       any = ""
)

func init() {
	for i := range immInts {
		immInts[i] = int64(i + ImmIntMin)
	}
}

// eface is the layout of an empty interface. The decoder builds interface
// values whose data word points into its slabs instead of a fresh heap box;
// this is only done for types stored indirectly (never pointer-shaped).
type eface struct {
	typ, data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

func makeIface(typ, data unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ = typ
	e.data = data
	return v
}

var (
	int64Type      = typeOf(int64(0))
	float64Type    = typeOf(float64(0))
	complex128Type = typeOf(complex128(0))
	stringType     = typeOf("")
	bytesType      = typeOf([]byte(nil))
	tupleType      = typeOf(Tuple(nil))
	frozenSetType  = typeOf(FrozenSet(nil))
	sliceType      = typeOf(Slice{})
)

// slab hands out windows of reusable chunks. Chunks are never moved or
// resized while in use, so values handed out stay put until reset; a reset
// makes all chunks available again.
//
// In Keep mode a slab has at most one current chunk (chunks[0]; ci is
// len(chunks) when it has none) and never reuses one: see keepAll.
type slab[T any] struct {
	chunks [][]T
	ci     int  // current chunk
	used   int  // elements used in the current chunk
	total  int  // elements in all chunks
	keep   bool // Decoder.Keep: chunks are never reused

	// Keep mode only; counts are of elements.
	rolled bool // took a chunk mid-message since the generation began
	mark   int  // used when the current message began
	spill  int  // used by the current message in chunks it rolled out of
	avg16  int  // use per message, moving average (in 1/16ths)
	peak   int  // most used by a message of the last keepPeakWindow or more
	peak1  int  // most used by a message since the last keepPeakWindow began
	next   int  // size of the slab's first chunk in this generation
}

// keepTally sums up the slabs in use at the end of a message (Keep mode).
type keepTally struct {
	rolled bool // a slab rolled
	room   int  // bytes left in the current chunks
	need   int  // bytes a message takes of them, on average
}

// endMessage records what the message just decoded used of the slab and
// adds the slab to t (Keep mode). A slab that neither this message nor
// recent ones used is passed over.
func (s *slab[T]) endMessage(window bool, t *keepTally) {
	if s.used != s.mark || s.avg16|s.peak != 0 {
		s.tally(window, t)
	}
}

func (s *slab[T]) tally(window bool, t *keepTally) {
	last := s.spill + s.used - s.mark
	s.avg16 += 2*last - (s.avg16+7)/8 // weight 1/8 (tends to 16*last)
	s.peak = max(s.peak, last)
	s.peak1 = max(s.peak1, last)
	if window {
		s.peak, s.peak1 = s.peak1, 0
	}
	s.spill, s.mark = 0, s.used
	t.rolled = t.rolled || s.rolled
	if s.ci < len(s.chunks) {
		var zero T
		t.room += (len(s.chunks[s.ci]) - s.used) * int(unsafe.Sizeof(zero))
		t.need += s.avg() * int(unsafe.Sizeof(zero))
	}
}

// avg is what a message uses of the slab, on average (Keep mode).
func (s *slab[T]) avg() int { return (s.avg16 + 15) / 16 }

// fit returns k, or fewer if k messages of the slab's average use do not
// fit in a chunk of keepChunkBytes (Keep mode).
func (s *slab[T]) fit(k int) int {
	if a := s.avg(); a > 0 {
		k = min(k, keepChunkElems[T]()/a)
	}
	return k
}

// drop leaves the current chunk at the end of a generation (Keep mode):
// the slab's next take starts a chunk sized for k messages of its average
// use, and at least the most a recent message used.
func (s *slab[T]) drop(k int) {
	if s.ci < len(s.chunks) {
		s.chunks[s.ci] = nil
		s.ci = len(s.chunks)
	}
	s.used, s.mark, s.spill, s.rolled, s.total = 0, 0, 0, false, 0
	s.next = max(k*s.avg(), s.peak)
}

// keepChunkBytes is the largest chunk in Keep mode, malloc header
// included; a value larger than a quarter of it gets a chunk of its own.
const keepChunkBytes = 4 << 10

// keepMessages is how many messages a generation of chunks is sized for
// at most in Keep mode.
const keepMessages = 32

// keepFirstBytes is the size of a slab's first chunk in a generation
// (Keep mode) when no recent message used the slab.
const keepFirstBytes = 256

// keepPeakWindow is how many messages a slab's peak use covers at least.
const keepPeakWindow = 16

// keepChunkElems is how many elements a chunk of keepChunkBytes holds (an
// allocation of more than 512 bytes that holds pointers starts with an
// 8-byte header).
func keepChunkElems[T any]() int {
	var zero T
	return int((keepChunkBytes - 8) / max(unsafe.Sizeof(zero), 1))
}

const minChunk = 16

func (s *slab[T]) reset() {
	if s.keep {
		// From Keep mode: its chunks hold values that must stay valid.
		*s = slab[T]{}
		return
	}
	s.ci, s.used = 0, 0
	var zero T
	if uintptr(s.total)*unsafe.Sizeof(zero) > retainBytes {
		s.chunks, s.total = nil, 0
	}
}

// take returns a window of n elements (length and capacity n).
func (s *slab[T]) take(n int) []T {
	if s.ci < len(s.chunks) {
		c := s.chunks[s.ci]
		if u := s.used; n <= len(c)-u {
			s.used = u + n
			return c[u : u+n : u+n]
		}
	}
	return s.grow(n)
}

// one returns a pointer to one element.
func (s *slab[T]) one() *T {
	if s.ci < len(s.chunks) {
		c := s.chunks[s.ci]
		if u := s.used; u < len(c) {
			s.used = u + 1
			return &c[u]
		}
	}
	return &s.grow(1)[0]
}

func (s *slab[T]) grow(n int) []T { return s.growCopy(n, nil) }

// copyOf returns a window holding a copy of src (length and capacity
// len(src)). It is take followed by copy, except that a chunk allocated for
// the copy alone is not zeroed first (see newChunk).
func (s *slab[T]) copyOf(src []T) []T {
	n := len(src)
	if s.ci < len(s.chunks) {
		c := s.chunks[s.ci]
		if u := s.used; n <= len(c)-u {
			s.used = u + n
			w := c[u : u+n : u+n]
			copy(w, src)
			return w
		}
	}
	return s.growCopy(n, src)
}

// growCopy is grow; when src is not nil (len(src) == n), the window returned
// holds a copy of it.
func (s *slab[T]) growCopy(n int, src []T) []T {
	if s.keep {
		// Leave the current chunk, if any: values in it keep it alive,
		// nothing reuses it.
		size := keepChunkElems[T]()
		if n > size/4 {
			// Large: a chunk of its own, the current one stays in use.
			return newChunk(n, src)
		}
		want := s.next
		if s.ci < len(s.chunks) {
			// The chunk filled mid-message: roll over to a chunk for the
			// rest of the message, as large as a message takes on average
			// or as what this one took so far (growing geometrically if it
			// rolls again). The generation ends with this message
			// (keepAll).
			s.rolled = true
			s.spill += s.used - s.mark
			want = max(s.avg(), s.spill+n)
		} else if want == 0 {
			want = size / (keepChunkBytes / keepFirstBytes)
		}
		c := keepChunk[T](min(max(want, n), size))
		if len(s.chunks) == 0 {
			s.chunks = make([][]T, 1)
		}
		s.chunks[0], s.ci, s.used, s.mark, s.total = c, 0, n, 0, len(c)
		w := c[0:n:n]
		copy(w, src)
		return w
	}
	size := minChunk
	if s.ci < len(s.chunks) {
		size = 2 * len(s.chunks[s.ci])
		if s.used > 0 {
			s.ci++
		}
	}
	s.used = 0
	if s.ci < len(s.chunks) && len(s.chunks[s.ci]) >= n {
		s.used = n
		w := s.chunks[s.ci][0:n:n]
		copy(w, src)
		return w
	}
	if s.ci < len(s.chunks) {
		// An unused chunk that is too small: replace it.
		size = max(size, 2*len(s.chunks[s.ci]))
	}
	size = max(size, n)
	c := newChunk(size, src)
	s.total += size
	if s.ci < len(s.chunks) {
		s.total -= len(s.chunks[s.ci])
		s.chunks[s.ci] = c
	} else {
		s.chunks = append(s.chunks, c)
	}
	s.used = n
	return c[0:n:n]
}

// keepChunk allocates a zeroed chunk of at least size elements, using all
// of the memory the allocator gives it (its size class).
func keepChunk[T any](size int) []T {
	c := slices.Grow([]T(nil), size)
	return c[:cap(c)]
}

// newChunk allocates a chunk of size elements that starts with a copy of
// src. When src fills the chunk, the chunk is allocated by append, which
// (for pointer-free T) does not zero memory it is about to copy into: for a
// large str or bytes value that is one pass over fresh memory instead of
// two.
func newChunk[T any](size int, src []T) []T {
	if size > 0 && len(src) == size {
		return append([]T(nil), src...)[:size:size]
	}
	c := make([]T, size)
	copy(c, src)
	return c
}
