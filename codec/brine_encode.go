package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Brine tag bytes (PROTOCOL.md §4.1).
const (
	TagNone           byte = 0x00
	TagEmptyStr       byte = 0x01 // empty bytes
	TagEmptyTuple     byte = 0x02
	TagTrue           byte = 0x03
	TagFalse          byte = 0x04
	TagNotImplemented byte = 0x05
	TagEllipsis       byte = 0x06
	TagUnicode        byte = 0x08 // str: followed by a bytes encoding
	TagStr1           byte = 0x0A // bytes of length 1; 0x0B..0x0D for 2..4
	TagStrL1          byte = 0x0E // bytes, uint8 length
	TagStrL4          byte = 0x0F // bytes, uint32 length
	TagTup1           byte = 0x10 // 1-tuple; 0x11..0x13 for 2..4 items
	TagTupL1          byte = 0x14 // tuple, uint8 count
	TagTupL4          byte = 0x15 // tuple, uint32 count
	TagIntL1          byte = 0x16 // int as decimal text, uint8 length
	TagIntL4          byte = 0x17 // int as decimal text, uint32 length
	TagFloat          byte = 0x18
	TagSlice          byte = 0x19 // followed by a 3-tuple
	TagFrozenSet      byte = 0x1A // followed by a tuple
	TagComplex        byte = 0x1B
	TagImmIntFirst    byte = 0x20 // immediate int ImmIntMin
	TagImmIntLast     byte = 0xEF // immediate int ImmIntMax
)

// Range of the one-byte immediate ints: tag = value + ImmIntBias.
const (
	ImmIntMin  = -48
	ImmIntMax  = 159
	ImmIntBias = 0x50
)

// MaxIntDigits is the largest number of decimal digits CPython (3.11+)
// converts to or from an int; brine carries ints as decimal text, so Append
// refuses larger ints and the Decoder rejects them with ErrTooLarge.
const MaxIntDigits = 4300

// MaxEncodeDepth bounds the nesting of the values Append and Encodable walk
// (it also stops a Tuple that contains itself). Deeper values give an error
// wrapping both ErrUnencodable and ErrTooDeep.
const MaxEncodeDepth = 10000

// pow10MaxDigits is 10**MaxIntDigits: an int whose absolute value is at least
// this has more than MaxIntDigits digits.
var pow10MaxDigits = new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxIntDigits), nil)

// bigTooLong reports whether x has more than MaxIntDigits decimal digits.
func bigTooLong(x *big.Int) bool {
	// 10**4300 has 14285 bits: fewer bits is always short enough.
	if x.BitLen() < 14285 {
		return false
	}
	return x.CmpAbs(pow10MaxDigits) >= 0
}

// Append appends the brine encoding of v to dst and returns the extended
// buffer. v must be a value of the model in the package documentation; any
// other value gives an error wrapping ErrUnencodable and dst unchanged.
//
// Dispatch is on the exact Go type (a named type such as `type MyInt int` is
// refused, as Python refuses subclasses). Besides foreign types, Append
// refuses a string that is not valid UTF-8, an int of more than MaxIntDigits
// digits, a nil *big.Int, a Singleton other than Ellipsis/NotImplemented,
// bytes or tuples longer than 2**32-1, and nesting deeper than
// MaxEncodeDepth. Encoding ordinary values into a buffer with enough
// capacity does not allocate.
func Append(dst []byte, v any) ([]byte, error) {
	n := len(dst)
	out, err := appendValue(dst, v, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func unencodable(v any, why string) error {
	if why == "" {
		return fmt.Errorf("%w: Go type %T", ErrUnencodable, v)
	}
	return fmt.Errorf("%w: Go type %T: %s", ErrUnencodable, v, why)
}

var errEncodeTooDeep = fmt.Errorf("%w: %w: nesting deeper than %d", ErrUnencodable, ErrTooDeep, MaxEncodeDepth)

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, TagNone), nil
	case bool:
		return AppendBool(dst, x), nil
	case int64:
		return AppendInt(dst, x), nil
	case int:
		return AppendInt(dst, int64(x)), nil
	case string:
		if !utf8.ValidString(x) {
			return dst, unencodable(v, "invalid UTF-8 (Python cannot encode it)")
		}
		if uint64(len(x)) > math.MaxUint32 {
			return dst, unencodable(v, "longer than 2**32-1 bytes")
		}
		return AppendStr(dst, x), nil
	case []byte:
		if uint64(len(x)) > math.MaxUint32 {
			return dst, unencodable(v, "longer than 2**32-1 bytes")
		}
		return AppendBytes(dst, x), nil
	case Tuple:
		return appendItems(dst, x, depth)
	case []any:
		return appendItems(dst, x, depth)
	case float64:
		return AppendFloat(dst, x), nil
	case *big.Int:
		if x == nil {
			return dst, unencodable(v, "nil pointer")
		}
		if bigTooLong(x) {
			return dst, unencodable(v, fmt.Sprintf("more than %d decimal digits (Python cannot decode it)", MaxIntDigits))
		}
		return AppendBigInt(dst, x), nil
	case int32:
		return AppendInt(dst, int64(x)), nil
	case int16:
		return AppendInt(dst, int64(x)), nil
	case int8:
		return AppendInt(dst, int64(x)), nil
	case uint8:
		return AppendInt(dst, int64(x)), nil
	case uint16:
		return AppendInt(dst, int64(x)), nil
	case uint32:
		return AppendInt(dst, int64(x)), nil
	case uint:
		return appendUint(dst, uint64(x)), nil
	case uint64:
		return appendUint(dst, x), nil
	case float32:
		return AppendFloat(dst, float64(x)), nil
	case complex128:
		return AppendComplex(dst, x), nil
	case complex64:
		return AppendComplex(dst, complex128(x)), nil
	case FrozenSet:
		dst = append(dst, TagFrozenSet)
		return appendItems(dst, x, depth)
	case Slice:
		if depth >= MaxEncodeDepth {
			return dst, errEncodeTooDeep
		}
		dst = append(dst, TagSlice, TagTup1+2)
		var err error
		if dst, err = appendValue(dst, x.Start, depth+1); err != nil {
			return dst, err
		}
		if dst, err = appendValue(dst, x.Stop, depth+1); err != nil {
			return dst, err
		}
		return appendValue(dst, x.Step, depth+1)
	case Singleton:
		if x != Ellipsis && x != NotImplemented {
			return dst, unencodable(v, "not Ellipsis or NotImplemented")
		}
		return AppendSingleton(dst, x), nil
	}
	return dst, unencodable(v, "")
}

func appendItems(dst []byte, items []any, depth int) ([]byte, error) {
	if depth >= MaxEncodeDepth {
		return dst, errEncodeTooDeep
	}
	if uint64(len(items)) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: tuple of more than 2**32-1 items", ErrUnencodable)
	}
	dst = AppendTupleHeader(dst, len(items))
	var err error
	for _, it := range items {
		if dst, err = appendValue(dst, it, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Encodable reports whether v (recursively) can be encoded by brine, that is
// whether Append would succeed.
func Encodable(v any) bool {
	return encodableErr(v, 0) == nil
}

var errNotEncodable = errors.New("not encodable")

func encodableErr(v any, depth int) error {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, complex64, complex128:
		return nil
	case string:
		if !utf8.ValidString(x) || uint64(len(x)) > math.MaxUint32 {
			return errNotEncodable
		}
		return nil
	case []byte:
		if uint64(len(x)) > math.MaxUint32 {
			return errNotEncodable
		}
		return nil
	case *big.Int:
		if x == nil || bigTooLong(x) {
			return errNotEncodable
		}
		return nil
	case Singleton:
		if x != Ellipsis && x != NotImplemented {
			return errNotEncodable
		}
		return nil
	case Tuple:
		return encodableItems(x, depth)
	case []any:
		return encodableItems(x, depth)
	case FrozenSet:
		return encodableItems(x, depth)
	case Slice:
		if depth >= MaxEncodeDepth {
			return errNotEncodable
		}
		for _, it := range [3]any{x.Start, x.Stop, x.Step} {
			if err := encodableErr(it, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return errNotEncodable
}

func encodableItems(items []any, depth int) error {
	if depth >= MaxEncodeDepth || uint64(len(items)) > math.MaxUint32 {
		return errNotEncodable
	}
	for _, it := range items {
		if err := encodableErr(it, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// AppendNone appends None.
func AppendNone(dst []byte) []byte { return append(dst, TagNone) }

// AppendBool appends True or False.
func AppendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, TagTrue)
	}
	return append(dst, TagFalse)
}

// AppendInt appends a Python int: one byte for -48..159, otherwise its
// decimal text behind TagIntL1. It never allocates beyond growing dst.
func AppendInt(dst []byte, v int64) []byte {
	if v >= ImmIntMin && v <= ImmIntMax {
		return append(dst, byte(v+ImmIntBias))
	}
	// An int64 has at most 20 characters, always a 1-byte length.
	dst = append(dst, TagIntL1, 0)
	start := len(dst)
	dst = strconv.AppendInt(dst, v, 10)
	dst[start-1] = byte(len(dst) - start)
	return dst
}

func appendUint(dst []byte, v uint64) []byte {
	if v <= math.MaxInt64 {
		return AppendInt(dst, int64(v))
	}
	dst = append(dst, TagIntL1, 0)
	start := len(dst)
	dst = strconv.AppendUint(dst, v, 10)
	dst[start-1] = byte(len(dst) - start)
	return dst
}

// AppendBigInt appends a Python int of any size (a value that fits in an
// int64 is encoded as AppendInt would). Unlike Append it does not refuse ints
// of more than MaxIntDigits digits, which a Python peer cannot decode. A nil
// v is encoded as 0. Ints beyond int64 allocate a temporary for their text.
func AppendBigInt(dst []byte, v *big.Int) []byte {
	if v == nil {
		return AppendInt(dst, 0)
	}
	if v.IsInt64() {
		return AppendInt(dst, v.Int64())
	}
	dst = append(dst, TagIntL1, 0)
	start := len(dst)
	dst = v.Append(dst, 10)
	n := len(dst) - start
	if n < 256 {
		dst[start-1] = byte(n)
		return dst
	}
	// Switch to the 4-byte length: move the text 3 bytes to the right.
	dst = append(dst, 0, 0, 0)
	copy(dst[start+3:], dst[start:start+n])
	dst[start-2] = TagIntL4
	binary.BigEndian.PutUint32(dst[start-1:], uint32(n))
	return dst
}

// AppendFloat appends a Python float, bit-exact (-0.0, infinities and NaN
// payloads are kept).
func AppendFloat(dst []byte, f float64) []byte {
	dst = append(dst, TagFloat)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

// AppendComplex appends a Python complex, bit-exact.
func AppendComplex(dst []byte, c complex128) []byte {
	dst = append(dst, TagComplex)
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(real(c)))
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(imag(c)))
}

// AppendStr appends a Python str. s must be valid UTF-8 (AppendStr does not
// check; Append does, and a Python peer fails on invalid UTF-8) and shorter
// than 2**32 bytes.
func AppendStr(dst []byte, s string) []byte {
	dst = append(dst, TagUnicode)
	dst = appendBytesHeader(dst, len(s))
	return append(dst, s...)
}

// AppendBytes appends a Python bytes value. b must be shorter than 2**32
// bytes (Append checks).
func AppendBytes(dst []byte, b []byte) []byte {
	dst = appendBytesHeader(dst, len(b))
	return append(dst, b...)
}

func appendBytesHeader(dst []byte, n int) []byte {
	switch {
	case n == 0:
		return append(dst, TagEmptyStr)
	case n <= 4:
		return append(dst, TagStr1+byte(n-1))
	case n <= 255:
		return append(dst, TagStrL1, byte(n))
	}
	dst = append(dst, TagStrL4)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// AppendTupleHeader appends the header of an n-tuple; the caller then appends
// exactly n values. n must be in 0..2**32-1.
func AppendTupleHeader(dst []byte, n int) []byte {
	switch {
	case n == 0:
		return append(dst, TagEmptyTuple)
	case n <= 4:
		return append(dst, TagTup1+byte(n-1))
	case n <= 255:
		return append(dst, TagTupL1, byte(n))
	}
	dst = append(dst, TagTupL4)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// AppendFrozenSetHeader appends the header of a frozenset of n items; the
// caller then appends exactly n values.
func AppendFrozenSetHeader(dst []byte, n int) []byte {
	return AppendTupleHeader(append(dst, TagFrozenSet), n)
}

// AppendSliceHeader appends the header of a slice object; the caller then
// appends exactly 3 values (start, stop, step).
func AppendSliceHeader(dst []byte) []byte {
	return append(dst, TagSlice, TagTup1+2)
}

// AppendSingleton appends Ellipsis or NotImplemented. Any other Singleton
// value appends nothing (Append reports it as unencodable).
func AppendSingleton(dst []byte, s Singleton) []byte {
	switch s {
	case Ellipsis:
		return append(dst, TagEllipsis)
	case NotImplemented:
		return append(dst, TagNotImplemented)
	}
	return dst
}
