package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

type brineVector struct {
	Name       string          `json:"name"`
	PythonRepr string          `json:"python_repr"`
	Typed      json.RawMessage `json:"typed"`
	Hex        string          `json:"hex"`
	Len        int             `json:"len"`
	Error      string          `json:"error"`
}

// decoders returns the decoder configurations every decoding test runs
// with: copying, view, and the package-level Decode (fresh memory, exact).
func decodeAll(t *testing.T, b []byte) []any {
	t.Helper()
	var out []any
	for _, view := range []bool{false, true} {
		d := &Decoder{View: view}
		for range 2 { // a second decode on the same Decoder reuses its storage
			v, n, err := d.Decode(b)
			require.NoError(t, err, "view=%v", view)
			require.Equal(t, len(b), n, "view=%v: bytes used", view)
			out = append(out, v)
		}
	}
	v, err := Decode(b)
	require.NoError(t, err)
	return append(out, v)
}

func TestBrineVectors(t *testing.T) {
	var vecs []brineVector
	loadJSON(t, "brine.json", &vecs)
	require.Len(t, vecs, 125)
	for _, vec := range vecs {
		t.Run(vec.Name, func(t *testing.T) {
			want := mustHex(t, vec.Hex)
			require.Len(t, want, vec.Len)
			v := typedToValue(t, vec.Typed)

			require.True(t, Encodable(v))
			got, err := Append(nil, v)
			require.NoError(t, err)
			require.Equal(t, vec.Hex, hex.EncodeToString(got))

			// Appending after existing content leaves it in place.
			got, err = Append([]byte("prefix"), v)
			require.NoError(t, err)
			require.Equal(t, "prefix"+string(want), string(got))

			for i, dv := range decodeAll(t, want) {
				requireValueEqual(t, v, dv, "decoder %d", i)
			}
		})
	}
}

func TestBrineUnchangedInV6(t *testing.T) {
	var checks struct {
		Brine struct {
			Vectors            int   `json:"vectors"`
			RoundtripIdentical int   `json:"roundtrip_identical"`
			Mismatches         []any `json:"mismatches"`
		} `json:"brine_vs_rpyc5_brine_json"`
	}
	loadJSON(t, "v6/unchanged_checks.json", &checks)
	var vecs []brineVector
	loadJSON(t, "brine.json", &vecs)
	// rpyc 6 dumps every 5.3 vector identically, so TestBrineVectors covers
	// both versions.
	require.Equal(t, len(vecs), checks.Brine.Vectors)
	require.Equal(t, len(vecs), checks.Brine.RoundtripIdentical)
	require.Empty(t, checks.Brine.Mismatches)
}

func TestBrineDecodeOnly(t *testing.T) {
	var vecs []brineVector
	loadJSON(t, "brine_decode_only.json", &vecs)
	require.NotEmpty(t, vecs)

	// Where Python is more lenient than we are, and the error we give.
	deviations := map[string]error{
		// Python does not notice short reads of bytes bodies; we do.
		"truncated_bytes_short_read": ErrTruncated,
	}
	// The error kind expected for each input Python rejects.
	wantErr := map[string]error{
		"int_l1_garbage":                       ErrInvalid,
		"int_5000_digits_exceeds_python_limit": ErrTooLarge,
		"unicode_invalid_utf8":                 ErrInvalid,
		"unicode_wrapping_int":                 ErrInvalid,
		"unicode_wrapping_unicode":             ErrInvalid,
		"slice_from_2_tuple":                   ErrInvalid,
		"truncated_float":                      ErrTruncated,
		"empty_input":                          ErrTruncated,
		"unused_tag_07":                        ErrUnknownTag,
		"deprecated_tag_09_long":               ErrUnknownTag,
		"unused_tag_1c":                        ErrUnknownTag,
		"unused_tag_1f":                        ErrUnknownTag,
		"tag_f0":                               ErrUnknownTag,
		"tag_ff":                               ErrUnknownTag,
	}
	seen := map[string]bool{}
	for _, vec := range vecs {
		t.Run(vec.Name, func(t *testing.T) {
			seen[vec.Name] = true
			b := mustHex(t, vec.Hex)
			if werr, ok := deviations[vec.Name]; ok {
				require.Empty(t, vec.Error, "Python accepts it")
				for _, view := range []bool{false, true} {
					_, _, err := (&Decoder{View: view}).Decode(b)
					require.ErrorIs(t, err, werr)
				}
				return
			}
			if vec.Error != "" {
				werr, ok := wantErr[vec.Name]
				require.True(t, ok, "no expected error kind for %s (%s)", vec.Name, vec.Error)
				for _, view := range []bool{false, true} {
					v, n, err := (&Decoder{View: view}).Decode(b)
					require.ErrorIs(t, err, werr, "python: %s", vec.Error)
					require.Nil(t, v)
					require.Zero(t, n)
				}
				_, err := Decode(b)
				require.ErrorIs(t, err, werr)
				return
			}
			want := typedToValue(t, vec.Typed)
			for _, view := range []bool{false, true} {
				v, n, err := (&Decoder{View: view}).Decode(b)
				require.NoError(t, err)
				requireValueEqual(t, want, v)
				if vec.Name == "trailing_garbage_ignored" {
					require.Equal(t, 1, n)
				} else {
					require.Equal(t, len(b), n)
				}
			}
			_, err := Decode(b)
			if vec.Name == "trailing_garbage_ignored" {
				require.ErrorIs(t, err, ErrInvalid, "Decode wants exactly one value")
			} else {
				require.NoError(t, err)
			}
		})
	}
	for name := range wantErr {
		require.True(t, seen[name], "vector %s disappeared", name)
	}
}

// Go analogues of the values Python's brine refuses (brine_undumpable.json).
type (
	testColor int
	testMyInt int
	testMyStr string
	testTuple Tuple
	testBytes []byte
)

func TestBrineUndumpable(t *testing.T) {
	var vecs []struct {
		Name       string `json:"name"`
		PythonType string `json:"python_type"`
		Dumpable   bool   `json:"dumpable"`
		DumpError  string `json:"dump_error"`
	}
	loadJSON(t, "brine_undumpable.json", &vecs)
	big5000, ok := new(big.Int).SetString("1"+strings.Repeat("0", 4999), 10)
	require.True(t, ok)
	var mv [2]byte
	analogues := map[string]any{
		"list":                  []int{1, 2},
		"dict":                  map[string]any{"a": int64(1)},
		"set":                   map[int64]struct{}{1: {}, 2: {}},
		"bytearray":             testBytes("ab"),
		"memoryview":            &mv,
		"object":                struct{}{},
		"int_enum_member":       testColor(1),
		"int_subclass":          testMyInt(5),
		"str_subclass":          testMyStr("s"),
		"tuple_subclass":        testTuple{int64(1)},
		"tuple_containing_list": Tuple{int64(1), []int{2}},
		"slice_containing_list": Slice{Start: []int{1}, Stop: int64(2)},
		"lone_surrogate_str":    "\xed\xa0\x80", // U+D800 in WTF-8: not UTF-8
		"int_5000_digits":       big5000,
		"function":              strings.Repeat,
		"type":                  reflect.TypeOf(0),
	}
	for _, vec := range vecs {
		t.Run(vec.Name, func(t *testing.T) {
			v, ok := analogues[vec.Name]
			require.True(t, ok, "no Go analogue for %s", vec.Name)
			require.NotEmpty(t, vec.DumpError)
			require.False(t, Encodable(v))
			dst := []byte("keep")
			out, err := Append(dst, v)
			require.ErrorIs(t, err, ErrUnencodable)
			require.Equal(t, "keep", string(out))
			require.Equal(t, 4, len(out))
			// Nested inside a tuple, the whole tuple is refused.
			out, err = Append(dst, Tuple{int64(1), "x", v})
			require.ErrorIs(t, err, ErrUnencodable)
			require.Equal(t, "keep", string(out))
		})
	}
	require.Len(t, analogues, len(vecs))
}

func TestBrineUnencodableGoValues(t *testing.T) {
	cyclic := Tuple{nil}
	cyclic[0] = cyclic
	for name, v := range map[string]any{
		"nil big.Int":         (*big.Int)(nil),
		"big.Int value":       *big.NewInt(1),
		"Singleton(0)":        Singleton(0),
		"Singleton(3)":        Singleton(3),
		"pointer to int":      new(int64),
		"pointer to Tuple":    &Tuple{},
		"[]string":            []string{"a"},
		"chan":                make(chan int),
		"error":               errors.New("x"),
		"invalid utf8":        "a\xffb",
		"truncated utf8":      "\xc3",
		"frozenset with list": FrozenSet{[]int{1}},
		"[]any with map":      []any{map[int]int{}},
		"uintptr":             uintptr(1),
	} {
		t.Run(name, func(t *testing.T) {
			require.False(t, Encodable(v))
			out, err := Append([]byte{1, 2}, v)
			require.ErrorIs(t, err, ErrUnencodable)
			require.Equal(t, []byte{1, 2}, out)
			if !strings.Contains(name, " with ") {
				require.Contains(t, err.Error(), fmt.Sprintf("%T", v))
			}
		})
	}
	t.Run("cyclic tuple", func(t *testing.T) {
		require.False(t, Encodable(cyclic))
		out, err := Append(nil, cyclic)
		require.ErrorIs(t, err, ErrUnencodable)
		require.ErrorIs(t, err, ErrTooDeep)
		require.Empty(t, out)
	})
	t.Run("int digit limit", func(t *testing.T) {
		// 4300 digits is the largest Python accepts, in both signs.
		for _, s := range []string{strings.Repeat("9", 4300), "-" + strings.Repeat("9", 4300)} {
			x, _ := new(big.Int).SetString(s, 10)
			require.True(t, Encodable(x))
			out, err := Append(nil, x)
			require.NoError(t, err)
			v, err := Decode(out)
			require.NoError(t, err)
			require.Zero(t, x.Cmp(v.(*big.Int)))
		}
		for _, s := range []string{"1" + strings.Repeat("0", 4300), "-1" + strings.Repeat("0", 4300)} {
			x, _ := new(big.Int).SetString(s, 10)
			require.False(t, Encodable(x))
			_, err := Append(nil, x)
			require.ErrorIs(t, err, ErrUnencodable)
			// The low-level encoder still writes it.
			out := AppendBigInt(nil, x)
			require.Equal(t, TagIntL4, out[0])
			_, err = Decode(out)
			require.ErrorIs(t, err, ErrTooLarge)
		}
	})
}

// bytesHeader is the expected header of a bytes value of length n, written
// out from PROTOCOL.md §4.2 (independently of the encoder).
func expectedBytesHeader(n int) []byte {
	switch {
	case n == 0:
		return []byte{0x01}
	case n == 1:
		return []byte{0x0A}
	case n == 2:
		return []byte{0x0B}
	case n == 3:
		return []byte{0x0C}
	case n == 4:
		return []byte{0x0D}
	case n < 256:
		return []byte{0x0E, byte(n)}
	}
	return binary.BigEndian.AppendUint32([]byte{0x0F}, uint32(n))
}

func expectedTupleHeader(n int) []byte {
	switch {
	case n == 0:
		return []byte{0x02}
	case n == 1:
		return []byte{0x10}
	case n == 2:
		return []byte{0x11}
	case n == 3:
		return []byte{0x12}
	case n == 4:
		return []byte{0x13}
	case n < 256:
		return []byte{0x14, byte(n)}
	}
	return binary.BigEndian.AppendUint32([]byte{0x15}, uint32(n))
}

func TestBrineLengthBoundaries(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 254, 255, 256, 257, 65535, 65536} {
		t.Run(fmt.Sprintf("bytes_%d", n), func(t *testing.T) {
			data := bytes.Repeat([]byte{0xAB}, n)
			want := append(expectedBytesHeader(n), data...)
			got, err := Append(nil, data)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, want, AppendBytes(nil, data))
			for _, v := range decodeAll(t, want) {
				requireValueEqual(t, data, v)
			}
		})
		t.Run(fmt.Sprintf("str_%d", n), func(t *testing.T) {
			s := strings.Repeat("s", n)
			want := append(append([]byte{0x08}, expectedBytesHeader(n)...), s...)
			got, err := Append(nil, s)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, want, AppendStr(nil, s))
			for _, v := range decodeAll(t, want) {
				requireValueEqual(t, s, v)
			}
		})
		t.Run(fmt.Sprintf("tuple_%d", n), func(t *testing.T) {
			tup := make(Tuple, n)
			want := expectedTupleHeader(n)
			for i := range tup {
				tup[i] = int64(i % 100)
				want = append(want, byte(i%100+0x50))
			}
			got, err := Append(nil, tup)
			require.NoError(t, err)
			require.Equal(t, want, got)
			got, err = Append(nil, []any(tup))
			require.NoError(t, err)
			require.Equal(t, want, got)
			for _, v := range decodeAll(t, want) {
				requireValueEqual(t, tup, v)
			}
			fs := append([]byte{0x1A}, want...)
			got, err = Append(nil, FrozenSet(tup))
			require.NoError(t, err)
			require.Equal(t, fs, got)
			for _, v := range decodeAll(t, fs) {
				require.IsType(t, FrozenSet{}, v)
				require.Len(t, v, n)
			}
		})
	}
	// Multi-byte UTF-8: the header follows the byte length, not runes.
	s := strings.Repeat("é", 128) // 256 bytes
	got, err := Append(nil, s)
	require.NoError(t, err)
	require.Equal(t, []byte{0x08, 0x0F, 0, 0, 1, 0}, got[:6])
}

func TestBrineIntTextBoundaries(t *testing.T) {
	cases := []struct {
		text string
		tag  byte
	}{
		{"1" + strings.Repeat("0", 254), TagIntL1},  // 255 chars
		{"-" + strings.Repeat("9", 254), TagIntL1},  // 255 chars
		{"1" + strings.Repeat("0", 255), TagIntL4},  // 256 chars
		{"-1" + strings.Repeat("0", 254), TagIntL4}, // 256 chars
		{"160", TagIntL1},
		{"-49", TagIntL1},
	}
	for _, c := range cases {
		x, _ := new(big.Int).SetString(c.text, 10)
		want := []byte{c.tag}
		if c.tag == TagIntL1 {
			want = append(want, byte(len(c.text)))
		} else {
			want = binary.BigEndian.AppendUint32(want, uint32(len(c.text)))
		}
		want = append(want, c.text...)
		got, err := Append(nil, x)
		require.NoError(t, err)
		require.Equal(t, want, got, c.text)
		require.Equal(t, want, AppendBigInt(nil, x))
		v, err := Decode(got)
		require.NoError(t, err)
		if x.IsInt64() {
			require.Equal(t, x.Int64(), v)
		} else {
			require.Zero(t, x.Cmp(v.(*big.Int)))
		}
	}
	// The immediate range and its edges, through every Go integer type
	// that can hold them.
	for v := int64(-300); v <= 300; v++ {
		want := []byte{byte(v + 0x50)}
		if v < -48 || v > 159 {
			want = append([]byte{0x16, byte(len(fmt.Sprint(v)))}, fmt.Sprint(v)...)
		}
		require.Equal(t, want, AppendInt(nil, v), v)
		require.Equal(t, want, AppendBigInt(nil, big.NewInt(v)), v)
		for _, gv := range goInts(v) {
			got, err := Append(nil, gv)
			require.NoError(t, err, "%T", gv)
			require.Equal(t, want, got, "%T(%v)", gv, gv)
		}
		d, err := Decode(want)
		require.NoError(t, err)
		require.Equal(t, v, d)
	}
}

// goInts returns v in every Go integer type that can represent it.
func goInts(v int64) []any {
	out := []any{v, int(v)}
	if v == int64(int8(v)) {
		out = append(out, int8(v))
	}
	if v == int64(int16(v)) {
		out = append(out, int16(v))
	}
	if v == int64(int32(v)) {
		out = append(out, int32(v))
	}
	if v >= 0 {
		out = append(out, uint(v), uint64(v))
		if v == int64(uint8(v)) {
			out = append(out, uint8(v))
		}
		if v == int64(uint16(v)) {
			out = append(out, uint16(v))
		}
		if v == int64(uint32(v)) {
			out = append(out, uint32(v))
		}
	}
	return out
}

func TestBrineGoTypes(t *testing.T) {
	enc := func(v any) string {
		t.Helper()
		b, err := Append(nil, v)
		require.NoError(t, err)
		return hex.EncodeToString(b)
	}
	// Booleans are never ints.
	require.Equal(t, "03", enc(true))
	require.Equal(t, "04", enc(false))
	require.Equal(t, "51", enc(int64(1)))
	require.Equal(t, "50", enc(0))
	// Integer types at their extremes.
	require.Equal(t, "1614"+hex.EncodeToString([]byte("18446744073709551615")), enc(uint64(math.MaxUint64)))
	maxUint := strconv.FormatUint(math.MaxUint, 10) // 32 or 64 bits
	require.Equal(t, fmt.Sprintf("16%02x%x", len(maxUint), maxUint), enc(uint(math.MaxUint)))
	require.Equal(t, "1613"+hex.EncodeToString([]byte("9223372036854775807")), enc(int64(math.MaxInt64)))
	require.Equal(t, "1614"+hex.EncodeToString([]byte("-9223372036854775808")), enc(int64(math.MinInt64)))
	require.Equal(t, "1604"+hex.EncodeToString([]byte("-128")), enc(int8(-128)))
	require.Equal(t, "1603"+hex.EncodeToString([]byte("255")), enc(uint8(255)))
	require.Equal(t, "1605"+hex.EncodeToString([]byte("65535")), enc(uint16(65535)))
	require.Equal(t, "160a"+hex.EncodeToString([]byte("4294967295")), enc(uint32(math.MaxUint32)))
	require.Equal(t, "1606"+hex.EncodeToString([]byte("-32768")), enc(int16(-32768)))
	require.Equal(t, "160b"+hex.EncodeToString([]byte("-2147483648")), enc(int32(math.MinInt32)))
	v, err := Decode(mustHex(t, enc(uint64(math.MaxUint64))))
	require.NoError(t, err)
	require.IsType(t, (*big.Int)(nil), v)
	require.Equal(t, "18446744073709551615", v.(*big.Int).String())
	for _, x := range []int64{math.MaxInt64, math.MinInt64, math.MinInt64 + 1, 1 << 62, -(1 << 62)} {
		v, err := Decode(mustHex(t, enc(x)))
		require.NoError(t, err)
		require.Equal(t, x, v)
	}
	// A *big.Int that fits in int64 encodes like the int64 and decodes as one.
	require.Equal(t, "51", enc(big.NewInt(1)))
	require.Equal(t, enc(int64(123456)), enc(big.NewInt(123456)))

	// float32 and complex64 widen.
	require.Equal(t, "183ff8000000000000", enc(float32(1.5)))
	require.Equal(t, "1b3ff00000000000004000000000000000", enc(complex64(1+2i)))
	require.Equal(t, "188000000000000000", enc(math.Copysign(0, -1)))

	// string vs []byte vs Tuple vs []any.
	require.Equal(t, "080a61", enc("a"))
	require.Equal(t, "0a61", enc([]byte("a")))
	require.Equal(t, "0801", enc(""))
	require.Equal(t, "01", enc([]byte{}))
	require.Equal(t, "01", enc([]byte(nil)))
	require.Equal(t, "02", enc(Tuple{}))
	require.Equal(t, "02", enc(Tuple(nil)))
	require.Equal(t, "02", enc([]any{}))
	require.Equal(t, "1a02", enc(FrozenSet{}))
	require.Equal(t, "1912000000", enc(Slice{}))
	require.Equal(t, "06", enc(Ellipsis))
	require.Equal(t, "05", enc(NotImplemented))
	require.Equal(t, "00", enc(nil))

	for _, view := range []bool{false, true} {
		d := &Decoder{View: view}
		v, _, err := d.Decode([]byte{0x08, 0x0B, 'h', 'i'})
		require.NoError(t, err)
		require.IsType(t, "", v)
		require.Equal(t, "hi", v)
		v, _, err = d.Decode([]byte{0x0B, 'h', 'i'})
		require.NoError(t, err)
		require.IsType(t, []byte(nil), v)
		require.Equal(t, []byte("hi"), v)
		v, _, err = d.Decode([]byte{0x01})
		require.NoError(t, err)
		require.IsType(t, []byte(nil), v)
		v, _, err = d.Decode([]byte{0x08, 0x01})
		require.NoError(t, err)
		require.Equal(t, "", v)
		v, _, err = d.Decode([]byte{0x02})
		require.NoError(t, err)
		require.Equal(t, Tuple{}, v)
		v, _, err = d.Decode([]byte{0x1A, 0x02})
		require.NoError(t, err)
		require.Equal(t, FrozenSet{}, v)
		v, _, err = d.Decode([]byte{0x1A, 0x15, 0, 0, 0, 0})
		require.NoError(t, err)
		require.Equal(t, FrozenSet{}, v)
		v, _, err = d.Decode([]byte{0x19, 0x14, 3, 0x00, 0x51, 0x06})
		require.NoError(t, err)
		require.Equal(t, Slice{Stop: int64(1), Step: Ellipsis}, v)
		v, _, err = d.Decode([]byte{0x05})
		require.NoError(t, err)
		require.Equal(t, NotImplemented, v)
	}
}

func TestBrineIntParsing(t *testing.T) {
	// Results of CPython 3.11's int(bytes) on the same text.
	ok := map[string]string{
		"5": "5", "+5": "5", "-0": "0", "-000": "0", "0_7": "7", "007": "7",
		" 1_0 ": "10", "\t5\x0b": "5", "\n\r\f-12\v ": "-12", "1_2_3": "123",
		"9223372036854775807":     "9223372036854775807",
		"+9223372036854775807":    "9223372036854775807",
		"9223372036854775808":     "9223372036854775808",
		"-9223372036854775808":    "-9223372036854775808",
		"-9223372036854775809":    "-9223372036854775809",
		"00000000000000000000001": "1",
		"-0000000000000000000000000000000000000000009223372036854775808": "-9223372036854775808",
		"99999999999999999999":      "99999999999999999999",
		"1_000_000_000_000_000_000": "1000000000000000000",
		strings.Repeat("0", 4300):   "0",
		strings.Repeat("9", 4300):   strings.Repeat("9", 4300),
	}
	bad := []string{"", " ", "-", "+", "+-5", "--5", "- 5", "+_5", "_1", "1_", "1__0", "\x1c5",
		"5\x00", "\xa05", "1x", "0x10", "1.0", "1e3", "١", "5 5", "_", "__"}
	for text, want := range ok {
		wv, err := intFromDecimal(want)
		require.NoError(t, err)
		for _, tag := range []byte{TagIntL1, TagIntL4} {
			if tag == TagIntL1 && len(text) > 255 {
				continue
			}
			b := intTextEncoding(tag, text)
			for _, view := range []bool{false, true} {
				v, n, err := (&Decoder{View: view}).Decode(b)
				require.NoError(t, err, "%q", text)
				require.Equal(t, len(b), n)
				requireValueEqual(t, wv, v, "%q", text)
			}
		}
	}
	for _, text := range bad {
		_, _, err := new(Decoder).Decode(intTextEncoding(TagIntL1, text))
		require.ErrorIs(t, err, ErrInvalid, "%q", text)
	}
	for _, text := range []string{strings.Repeat("0", 4301), "1" + strings.Repeat("_0", 4300), strings.Repeat("9", 5000)} {
		_, _, err := new(Decoder).Decode(intTextEncoding(TagIntL4, text))
		require.ErrorIs(t, err, ErrTooLarge, "%d chars", len(text))
	}
}

func intTextEncoding(tag byte, text string) []byte {
	b := []byte{tag}
	if tag == TagIntL1 {
		b = append(b, byte(len(text)))
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(text)))
	}
	return append(b, text...)
}

func TestBrineDepth(t *testing.T) {
	nest := func(depth int, open []byte) []byte {
		b := bytes.Repeat(open, depth)
		return append(b, 0x50)
	}
	for _, open := range [][]byte{{0x10}, {0x1A, 0x10}, {0x14, 0x01}, {0x15, 0, 0, 0, 1}} {
		v, err := Decode(nest(DefaultMaxDepth, open))
		require.NoError(t, err)
		require.NotNil(t, v)
		_, err = Decode(nest(DefaultMaxDepth+1, open))
		require.ErrorIs(t, err, ErrTooDeep)
	}
	// Slices nest through their items.
	var b []byte
	for range DefaultMaxDepth {
		b = append(b, 0x19, 0x12) // slice(<next>, None, None)
	}
	b = append(b, 0x00)
	for range DefaultMaxDepth {
		b = append(b, 0x00, 0x00)
	}
	v, err := Decode(b)
	require.NoError(t, err)
	require.IsType(t, Slice{}, v)
	_, err = Decode(append([]byte{0x19, 0x12}, b...))
	require.ErrorIs(t, err, ErrTooDeep)

	// A custom limit.
	d := &Decoder{MaxDepth: 3}
	_, _, err = d.Decode(nest(3, []byte{0x10}))
	require.NoError(t, err)
	_, _, err = d.Decode(nest(4, []byte{0x10}))
	require.ErrorIs(t, err, ErrTooDeep)

	// A million nested 1-tuples: the limit stops them, and even without a
	// limit the decoder does not recurse.
	million := bytes.Repeat([]byte{0x10}, 1_000_000)
	_, err = Decode(million)
	require.ErrorIs(t, err, ErrTooDeep)
	_, _, err = (&Decoder{MaxDepth: 2_000_000}).Decode(million)
	require.ErrorIs(t, err, ErrTruncated)
	v, _, err = (&Decoder{MaxDepth: 2_000_000}).Decode(append(million, 0x00))
	require.NoError(t, err)
	for range 1_000_000 {
		tup, ok := v.(Tuple)
		require.True(t, ok)
		v = tup[0]
	}
	require.Nil(t, v)
}

func TestBrineHugeLengthsShortInput(t *testing.T) {
	ff := []byte{0xFF, 0xFF, 0xFF, 0xFF}
	cases := map[string][]byte{
		"bytes L4":             append([]byte{0x0F}, ff...),
		"str L4":               append([]byte{0x08, 0x0F}, ff...),
		"int L4":               append([]byte{0x17}, ff...),
		"tuple L4":             append([]byte{0x15}, ff...),
		"frozenset L4":         append([]byte{0x1A, 0x15}, ff...),
		"bytes L4 some data":   append(append([]byte{0x0F}, ff...), "abc"...),
		"tuple L4 some items":  append(append([]byte{0x15}, ff...), 0x50, 0x51),
		"bytes L1":             {0x0E, 0xFF, 1, 2},
		"int L1":               {0x16, 0xFF, '1'},
		"tuple L1":             {0x14, 0xFF, 0x50},
		"str4 short":           {0x0D, 'a', 'b', 'c'},
		"tup4 short":           {0x13, 0x50, 0x50, 0x50},
		"complex short":        {0x1B, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"float short":          {0x18, 0},
		"length short":         {0x0F, 0, 0},
		"tuple length short":   {0x15, 0, 0, 0},
		"slice short":          {0x19},
		"frozenset short":      {0x1A},
		"str short":            {0x08},
		"str bytes short":      {0x08, 0x0E},
		"slice tuple short":    {0x19, 0x12, 0x00},
		"nested amplification": nestedClaims(1000, 100_000),
		"nested siblings":      {0x13, 0x14, 0x03, 0x50, 0x50},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			for _, view := range []bool{false, true} {
				d := &Decoder{View: view}
				allocs := testing.AllocsPerRun(10, func() {
					_, _, err := d.Decode(b)
					require.ErrorIs(t, err, ErrTruncated)
				})
				require.LessOrEqual(t, allocs, 20.0, "allocations on a truncated input")
			}
		})
	}
	// The nested case reserves no more item slots than there are bytes.
	b := cases["nested amplification"]
	d := &Decoder{}
	_, _, err := d.Decode(b)
	require.ErrorIs(t, err, ErrTruncated)
	total := 0
	for _, c := range d.items.chunks {
		total += len(c)
	}
	require.LessOrEqual(t, total, 4*len(b)+minChunk)
}

// nestedClaims returns depth nested tuples that each claim n items, followed
// by n filler bytes: the outer claim fits in the input, the inner ones
// cannot.
func nestedClaims(depth, n int) []byte {
	var b []byte
	for range depth {
		b = append(b, 0x15)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, make([]byte, n)...)
}

func TestBrineInvalid(t *testing.T) {
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"str of tuple":         {[]byte{0x08, 0x02}, ErrInvalid},
		"str of int":           {[]byte{0x08, 0x16, 1, '1'}, ErrInvalid},
		"str of unknown tag":   {[]byte{0x08, 0x07}, ErrInvalid},
		"str overlong utf8":    {[]byte{0x08, 0x0B, 0xC0, 0x80}, ErrInvalid},
		"str surrogate utf8":   {[]byte{0x08, 0x0C, 0xED, 0xA0, 0x80}, ErrInvalid},
		"str beyond U+10FFFF":  {[]byte{0x08, 0x0D, 0xF4, 0x90, 0x80, 0x80}, ErrInvalid},
		"slice of bytes":       {[]byte{0x19, 0x0C, 1, 2, 3}, ErrInvalid},
		"slice of 4-tuple":     {[]byte{0x19, 0x13, 0, 0, 0, 0}, ErrInvalid},
		"slice of empty":       {[]byte{0x19, 0x02}, ErrInvalid},
		"slice of L1 2-tuple":  {[]byte{0x19, 0x14, 2, 0, 0}, ErrInvalid},
		"slice of frozenset":   {[]byte{0x19, 0x1A, 0x12, 0, 0, 0}, ErrInvalid},
		"frozenset of bytes":   {[]byte{0x1A, 0x0A, 'a'}, ErrInvalid},
		"frozenset of int":     {[]byte{0x1A, 0x51}, ErrInvalid},
		"frozenset of fset":    {[]byte{0x1A, 0x1A, 0x02}, ErrInvalid},
		"unknown tag in tuple": {[]byte{0x11, 0x50, 0x1D}, ErrUnknownTag},
		"tag 09 in slice":      {[]byte{0x19, 0x12, 0x00, 0x09, 0x00}, ErrUnknownTag},
		"int text garbage":     {[]byte{0x16, 2, '1', 'x'}, ErrInvalid},
		"int text empty":       {[]byte{0x16, 0}, ErrInvalid},
		"int L4 empty":         {[]byte{0x17, 0, 0, 0, 0}, ErrInvalid},
	}
	for tag := 0; tag < 256; tag++ {
		if tag == 0x07 || tag == 0x09 || tag >= 0x1C && tag <= 0x1F || tag >= 0xF0 {
			cases[fmt.Sprintf("tag %02x", tag)] = struct {
				b    []byte
				want error
			}{[]byte{byte(tag), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownTag}
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, view := range []bool{false, true} {
				v, n, err := (&Decoder{View: view}).Decode(c.b)
				require.ErrorIs(t, err, c.want)
				require.Nil(t, v)
				require.Zero(t, n)
			}
		})
	}
}

func TestBrineViewAndCopy(t *testing.T) {
	msg, err := Append(nil, Tuple{[]byte("hello world"), "héllo wörld", Tuple{[]byte("abcd"), "xyz"}})
	require.NoError(t, err)

	in := bytes.Clone(msg)
	view := &Decoder{View: true}
	v, _, err := view.Decode(in)
	require.NoError(t, err)
	tup := v.(Tuple)
	b := tup[0].([]byte)
	require.Equal(t, len(b), cap(b), "view []byte has its capacity clipped")
	require.True(t, &b[0] == &in[bytes.Index(in, []byte("hello world"))], "view []byte aliases the input")
	b2 := append(b, '!')
	require.Equal(t, msg, in, "appending to a view []byte must not clobber the input")
	require.Equal(t, "hello world!", string(b2))
	s := tup[1].(string)
	require.Equal(t, "héllo wörld", s)
	require.True(t, strings.Contains(string(in), s))

	in2 := bytes.Clone(msg)
	cp := &Decoder{}
	v, _, err = cp.Decode(in2)
	require.NoError(t, err)
	clear(in2) // the input may be reused at once in copying mode
	requireValueEqual(t, Tuple{[]byte("hello world"), "héllo wörld", Tuple{[]byte("abcd"), "xyz"}}, v)
	cb := v.(Tuple)[0].([]byte)
	require.Equal(t, len(cb), cap(cb))
}

func TestBrineLifetimeAndClone(t *testing.T) {
	a := Tuple{int64(123456789), "first string", []byte("first bytes"), 2.5, complex(1, 2),
		FrozenSet{int64(1000), "x"}, Slice{Start: int64(-1000), Stop: nil, Step: "s"},
		mustBig("123456789012345678901234567890")}
	bmsg := Tuple{int64(987654321), "second!", []byte("second bytes!!"), 7.5, complex(3, 4),
		FrozenSet{int64(2000), "y"}, Slice{Start: int64(-2000), Stop: nil, Step: "t"},
		mustBig("-99999999999999999999999999")}
	ea, err := Append(nil, a)
	require.NoError(t, err)
	eb, err := Append(nil, bmsg)
	require.NoError(t, err)
	for _, view := range []bool{false, true} {
		d := &Decoder{View: view}
		in := bytes.Clone(ea)
		va, _, err := d.Decode(in)
		require.NoError(t, err)
		requireValueEqual(t, a, va)
		kept := Clone(va)
		requireValueEqual(t, a, kept)
		clear(in)
		vb, _, err := d.Decode(eb)
		require.NoError(t, err)
		requireValueEqual(t, bmsg, vb)
		requireValueEqual(t, a, kept, "the clone survives the next Decode and the input")
		// The clone shares nothing: mutate it and decode again.
		kept.(Tuple)[2].([]byte)[0] = 'X'
		vb2, _, err := d.Decode(eb)
		require.NoError(t, err)
		requireValueEqual(t, bmsg, vb2)
	}
	require.Nil(t, Clone(nil))
	big1 := big.NewInt(5)
	c := Clone(big1).(*big.Int)
	c.SetInt64(6)
	require.Equal(t, int64(5), big1.Int64())
	orig := []any{[]byte{1}, Tuple{[]byte{2}}}
	cl := Clone(orig).([]any)
	cl[0].([]byte)[0] = 9
	cl[1].(Tuple)[0].([]byte)[0] = 9
	require.Equal(t, []any{[]byte{1}, Tuple{[]byte{2}}}, orig)
	require.Equal(t, Tuple(nil), Clone(Tuple(nil)))
}

func mustBig(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return x
}

// randValue returns a random value of the model in its decoded form (so
// that decode(encode(v)) equals v).
func randValue(r *rand.Rand, depth int) any {
	k := r.IntN(18)
	if depth > 4 && k >= 13 {
		k = r.IntN(13)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return int64(r.IntN(400) - 200)
	case 3:
		return int64(r.Uint64())
	case 4:
		x := new(big.Int).Lsh(big.NewInt(int64(r.Uint64()>>1)|1), uint(64+r.IntN(2000)))
		if r.IntN(2) == 0 {
			x.Neg(x)
		}
		return x
	case 5:
		return math.Float64frombits(r.Uint64())
	case 6:
		return complex(math.Float64frombits(r.Uint64()), r.NormFloat64())
	case 7:
		return randString(r)
	case 8:
		b := make([]byte, randLen(r))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case 9:
		return Ellipsis
	case 10:
		return NotImplemented
	case 11:
		return ""
	case 12:
		return []byte{}
	case 13, 14:
		t := make(Tuple, randLen(r)%40)
		for i := range t {
			t[i] = randValue(r, depth+1)
		}
		return t
	case 15:
		f := make(FrozenSet, r.IntN(6))
		for i := range f {
			f[i] = randValue(r, depth+1)
		}
		return f
	}
	return Slice{Start: randValue(r, depth+1), Stop: randValue(r, depth+1), Step: randValue(r, depth+1)}
}

func randLen(r *rand.Rand) int {
	switch r.IntN(8) {
	case 0:
		return r.IntN(5)
	case 1:
		return 250 + r.IntN(10)
	case 2:
		return r.IntN(1000)
	}
	return r.IntN(20)
}

func randString(r *rand.Rand) string {
	runes := []rune{'a', 'z', 0, 0x7f, 0x80, 'é', 0x7ff, 0x800, 0xfffd, 0xffff, 0x10000, 0x10ffff, '日'}
	var sb strings.Builder
	for range randLen(r) {
		if r.IntN(3) == 0 {
			sb.WriteRune(runes[r.IntN(len(runes))])
		} else {
			sb.WriteRune(rune(r.IntN(0xD800)))
		}
	}
	s := sb.String()
	if !utf8.ValidString(s) {
		panic("bad random string")
	}
	return s
}

func TestBrineRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	views := []*Decoder{{}, {View: true}}
	buf := make([]byte, 0, 64)
	for i := range 3000 {
		v := randValue(r, 0)
		enc, err := Append(buf[:0], v)
		require.NoError(t, err, "value %d", i)
		buf = enc
		require.True(t, Encodable(v))
		for _, d := range views {
			got, n, err := d.Decode(enc)
			require.NoError(t, err, "value %d: %x", i, enc)
			require.Equal(t, len(enc), n)
			requireValueEqual(t, v, got, "value %d", i)
			again, err := Append(nil, got)
			require.NoError(t, err)
			require.Equal(t, enc, again, "value %d: re-encoding is stable", i)
		}
	}
}

// callattrRequest is the 5.x CALLATTR request of the task description,
// built as a Tuple.
func callattrRequest(seq int64) Tuple {
	return Tuple{int64(1), seq, Tuple{int64(8), Tuple{int64(2), Tuple{
		Tuple{int64(3), Tuple{"mod.Cls", int64(12345678), int64(139634491180496)}},
		Tuple{int64(1), "echo"},
		Tuple{int64(1), Tuple{Tuple{"x"}}},
		Tuple{int64(1), Tuple{}},
	}}}}
}

// appendCallattrRequest writes the same message with the low-level API.
func appendCallattrRequest(dst []byte, seq int64) []byte {
	dst = AppendTupleHeader(dst, 3)
	dst = AppendInt(dst, 1)
	dst = AppendInt(dst, seq)
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 8)
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 2)
	dst = AppendTupleHeader(dst, 4)
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 3)
	dst = AppendTupleHeader(dst, 3)
	dst = AppendStr(dst, "mod.Cls")
	dst = AppendInt(dst, 12345678)
	dst = AppendInt(dst, 139634491180496)
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 1)
	dst = AppendStr(dst, "echo")
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 1)
	dst = AppendTupleHeader(dst, 1)
	dst = AppendTupleHeader(dst, 1)
	dst = AppendStr(dst, "x")
	dst = AppendTupleHeader(dst, 2)
	dst = AppendInt(dst, 1)
	dst = AppendTupleHeader(dst, 0)
	return dst
}

func TestBrineAllocations(t *testing.T) {
	msg := callattrRequest(4242)
	buf := make([]byte, 0, 256)
	enc, err := Append(nil, msg)
	require.NoError(t, err)
	require.Equal(t, enc, appendCallattrRequest(nil, 4242))
	var anyMsg any = msg
	require.Zero(t, testing.AllocsPerRun(100, func() {
		buf, _ = Append(buf[:0], anyMsg)
	}), "Append")
	require.Zero(t, testing.AllocsPerRun(100, func() {
		buf = appendCallattrRequest(buf[:0], 4242)
	}), "low-level Append*")
	var floats any = Tuple{1.5, complex(1, 2), int64(-1 << 40), []byte("abc"), "str", FrozenSet{Ellipsis}, Slice{}, true, nil}
	require.Zero(t, testing.AllocsPerRun(100, func() {
		buf, _ = Append(buf[:0], floats)
	}), "Append of other scalars")

	for _, view := range []bool{false, true} {
		d := &Decoder{View: view}
		_, _, err := d.Decode(enc)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(100, func() {
			v, _, err := d.Decode(enc)
			if err != nil || v == nil {
				panic(err)
			}
		})
		require.Zero(t, allocs, "Decode of the CALLATTR request, view=%v", view)
		fenc, err := Append(nil, floats)
		require.NoError(t, err)
		_, _, err = d.Decode(fenc)
		require.NoError(t, err)
		allocs = testing.AllocsPerRun(100, func() {
			_, _, _ = d.Decode(fenc)
		})
		require.Zero(t, allocs, "Decode of other values, view=%v", view)
	}
	v, _, err := (&Decoder{}).Decode(enc)
	require.NoError(t, err)
	requireValueEqual(t, msg, v)
}

func TestBrineSlabReuse(t *testing.T) {
	// Growing within one decode must not move values already handed out.
	var tup Tuple
	for i := range 5000 {
		tup = append(tup, Tuple{int64(1000 + i), fmt.Sprintf("s%d", i), []byte{byte(i)}, float64(i)})
	}
	enc, err := Append(nil, tup)
	require.NoError(t, err)
	d := &Decoder{}
	for range 3 {
		v, _, err := d.Decode(enc)
		require.NoError(t, err)
		requireValueEqual(t, tup, v)
	}
	// After a very large value the decoder does not keep all of it.
	large := make(Tuple, 1<<20)
	enc, err = Append(nil, large)
	require.NoError(t, err)
	_, _, err = d.Decode(enc)
	require.NoError(t, err)
	_, _, err = d.Decode([]byte{0x10, 0x50})
	require.NoError(t, err)
	total := 0
	for _, c := range d.items.chunks {
		total += len(c)
	}
	require.Less(t, total, 1<<20)
	d.Release()
	v, _, err := d.Decode([]byte{0x10, 0x50})
	require.NoError(t, err)
	require.Equal(t, Tuple{int64(0)}, v)
}

// In Keep mode values stay valid after later decodes, and nothing aliases
// the input.
func TestDecoderKeep(t *testing.T) {
	d := Decoder{Keep: true}
	var kept []any
	var want []any
	in := make([]byte, 0, 256)
	for i := range 2000 {
		v := Tuple{int64(i) * 1000003, "str" + strconv.Itoa(i), []byte{byte(i), 1, 2}, Tuple{float64(i), nil}}
		var err error
		in, err = Append(in[:0], v)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := d.Decode(in)
		if err != nil || n != len(in) {
			t.Fatalf("decode %d: n=%d err=%v", i, n, err)
		}
		clear(in[:cap(in)]) // the input is reused: nothing may alias it
		kept = append(kept, got)
		want = append(want, v)
	}
	for i := range kept {
		if !reflect.DeepEqual(kept[i], want[i]) {
			t.Fatalf("value %d became %#v, want %#v", i, kept[i], want[i])
		}
	}
	// A warm decoder allocates about once per chunk, not per value.
	in, _ = Append(in[:0], Tuple{int64(1), "x", Tuple{int64(2)}})
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, err := d.Decode(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.2 {
		t.Fatalf("%.2f allocations per decode, want at most 0.2", allocs)
	}
}

// Large str and bytes values are copied out of the input into memory of
// their own (a chunk allocated by the copy, not zeroed first) in every
// copying mode: they equal the input's, alias nothing of it, and end their
// capacity at their length; in Keep mode they outlive later decodes, in the
// reusing mode the decoder's chunks are reused.
func TestDecoderLargeCopies(t *testing.T) {
	mk := func(i, n int) []byte {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte('a' + (i+k)%26)
		}
		return b
	}
	value := func(i int) Tuple {
		return Tuple{mk(i, 64<<10), mk(i+1, 10), string(mk(i+2, 40<<10)), string(mk(i+3, 5)), mk(i+4, 1500)}
	}
	for _, mode := range []struct {
		name  string
		fresh bool
		keep  bool
	}{{"reused", false, false}, {"keep", false, true}, {"fresh", true, false}} {
		t.Run(mode.name, func(t *testing.T) {
			d := &Decoder{Keep: mode.keep}
			var kept, want []any
			for i := range 6 {
				if mode.fresh {
					d = &Decoder{}
				}
				v := value(i)
				in, err := Append(nil, v)
				require.NoError(t, err)
				got, n, err := d.Decode(in)
				require.NoError(t, err)
				require.Equal(t, len(in), n)
				clear(in) // nothing may alias the input
				require.Equal(t, v, got, "decode %d", i)
				for k, x := range got.(Tuple) {
					if b, ok := x.([]byte); ok {
						require.Equal(t, len(b), cap(b), "decode %d item %d: capacity ends at the length", i, k)
					}
				}
				kept, want = append(kept, got), append(want, any(v))
			}
			if mode.keep || mode.fresh {
				require.Equal(t, want, kept, "values outlive later decodes")
			}
		})
	}
	// A warm reusing decoder copies large values into its chunks without
	// allocating.
	d := &Decoder{}
	in, err := Append(nil, value(0))
	require.NoError(t, err)
	_, _, err = d.Decode(in)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(50, func() {
		if _, _, err := d.Decode(in); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
