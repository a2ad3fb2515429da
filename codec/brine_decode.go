package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
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
	// of the current chunks; a full chunk is left to the garbage collector
	// (it lives on while a value in it is referenced) and a new one taken.
	// A warm Decoder in this mode allocates about once per keepChunkBytes
	// of decoded values, and a retained value keeps at most its chunk
	// alive, with the other chunks of its generation (about one per kind
	// of value; see keepAll). Combined with copying mode (View false),
	// nothing decoded aliases the input, which may be reused at once.
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

// keepAll puts every slab in Keep mode. If a slab took a new chunk during
// the last Decode, every slab starts on a new chunk now: the values of one
// message point into the chunks current while it was decoded, so chunks
// that lived on across messages would chain each generation of chunks to
// the one before (a new items chunk holding tuples whose windows lie in a
// strings chunk that holds... ), and a busy decoder would keep every chunk
// it ever filled. Started together at a message boundary, the chunks of one
// generation point only to each other, and die with their values.
func (d *Decoder) keepAll() {
	if d.items.rolled || d.ints.rolled || d.floats.rolled || d.cplxs.rolled ||
		d.strs.rolled || d.bytes.rolled || d.tuples.rolled || d.fsets.rolled ||
		d.slices.rolled || d.raw.rolled {
		d.items.drop()
		d.ints.drop()
		d.floats.drop()
		d.cplxs.drop()
		d.strs.drop()
		d.bytes.drop()
		d.tuples.drop()
		d.fsets.drop()
		d.slices.drop()
		d.raw.drop()
	}
	d.items.keep, d.ints.keep, d.floats.keep, d.cplxs.keep = true, true, true, true
	d.strs.keep, d.bytes.keep, d.tuples.keep = true, true, true
	d.fsets.keep, d.slices.keep, d.raw.keep = true, true, true
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
		data = d.raw.copyOf(data)
	}
	p := d.bytes.one()
	*p = data
	return makeIface(bytesType, unsafe.Pointer(p))
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
type slab[T any] struct {
	chunks [][]T
	ci     int  // current chunk
	used   int  // elements used in the current chunk
	total  int  // elements in all chunks
	keep   bool // Decoder.Keep: chunks are never reused
	// rolled: in Keep mode, the slab took a new chunk since the Decoder
	// last started every slab afresh (see keepAll).
	rolled bool
	// next is the size of the first chunk of the next generation: what
	// the slab used in the last one, with room to spare (0: full size).
	next int
}

// drop makes the next take start a new chunk (Keep mode), sized by what
// this generation used, so that slabs little used waste little.
func (s *slab[T]) drop() {
	if len(s.chunks) > 0 && s.ci < len(s.chunks) {
		used := s.used
		if s.rolled {
			used += len(s.chunks[0])
		}
		s.next = used + used/2 + 8
		s.chunks[0] = nil
		s.ci = len(s.chunks)
	}
	s.rolled = false
}

// keepChunkBytes is the size of a chunk in Keep mode (a value larger than
// that gets a chunk of its own size).
const keepChunkBytes = 4 << 10

const minChunk = 16

func (s *slab[T]) reset() {
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
		// Drop the full chunk: values in it keep it alive, nothing reuses it.
		var zero T
		size := int(keepChunkBytes / max(unsafe.Sizeof(zero), 1))
		if n > size/4 {
			// Large: a chunk of its own, the current one stays in use.
			return newChunk(n, src)
		}
		// A full current chunk ends the generation at the next message
		// (keepAll); the first chunk after a drop starts one.
		if s.ci < len(s.chunks) {
			s.rolled = true
		}
		if s.next > 0 && s.next < size {
			size = max(s.next, n)
		}
		c := make([]T, size)
		if len(s.chunks) == 0 {
			s.chunks = make([][]T, 1)
		}
		s.chunks[0], s.ci, s.used, s.total = c, 0, n, size
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
