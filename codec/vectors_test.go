package codec

// Shared test helpers for the JSON vectors in testdata/ (format described in
// shared/vectors/README.md): reading the files and turning a "typed" value
// description into a Go value of the codec's value model, and comparing
// values the way the vectors require.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadJSON reads testdata/<name> into out.
func loadJSON(tb testing.TB, name string, out any) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	require.NoError(tb, json.Unmarshal(data, out), "parsing %s", name)
}

// mustHex decodes lowercase hex from the vectors.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(tb, err)
	return b
}

// typedComplete reports whether a typed description holds the whole value
// (long values may be shown truncated; those cannot be rebuilt).
func typedComplete(typed any) bool {
	m, ok := typed.(map[string]any)
	if !ok {
		return false
	}
	if t, _ := m["truncated"].(bool); t {
		return false
	}
	for _, k := range []string{"start", "stop", "step", "real", "imag"} {
		if sub, ok := m[k]; ok && !typedComplete(sub) {
			return false
		}
	}
	if items, ok := m["items"].([]any); ok {
		for _, it := range items {
			if !typedComplete(it) {
				return false
			}
		}
	}
	return true
}

// typedToValue turns a "typed" JSON description (decoded by encoding/json
// into map[string]any, or given as json.RawMessage) into the Go value the
// codec's Decoder produces for it: nil, bool, int64 (or *big.Int beyond
// int64), float64, complex128, string, []byte, Tuple, FrozenSet, Slice,
// Ellipsis, NotImplemented. It fails the test on a malformed or truncated
// description.
func typedToValue(tb testing.TB, typed any) any {
	tb.Helper()
	v, err := typedToValueErr(typed)
	require.NoError(tb, err)
	return v
}

// typedToValueErr is typedToValue returning an error instead of failing.
func typedToValueErr(typed any) (any, error) {
	if raw, ok := typed.(json.RawMessage); ok {
		var m any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		typed = m
	}
	m, ok := typed.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("typed value is %T, want an object", typed)
	}
	if t, _ := m["truncated"].(bool); t {
		return nil, fmt.Errorf("typed %v value is truncated", m["type"])
	}
	str := func(k string) (string, error) {
		s, ok := m[k].(string)
		if !ok {
			return "", fmt.Errorf("typed %v: field %q is %T, want string", m["type"], k, m[k])
		}
		return s, nil
	}
	items := func() ([]any, error) {
		raw, ok := m["items"].([]any)
		if !ok {
			return nil, fmt.Errorf("typed %v: no items", m["type"])
		}
		out := make([]any, len(raw))
		for i, it := range raw {
			v, err := typedToValueErr(it)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	switch m["type"] {
	case "none":
		return nil, nil
	case "ellipsis":
		return Ellipsis, nil
	case "notimplemented":
		return NotImplemented, nil
	case "bool":
		b, ok := m["value"].(bool)
		if !ok {
			return nil, fmt.Errorf("typed bool: value is %T", m["value"])
		}
		return b, nil
	case "int":
		s, err := str("value")
		if err != nil {
			return nil, err
		}
		return intFromDecimal(s)
	case "float":
		if bits, ok := m["bits"].(string); ok {
			b, err := hex.DecodeString(bits)
			if err != nil || len(b) != 8 {
				return nil, fmt.Errorf("typed float: bad bits %q", bits)
			}
			var u uint64
			for _, c := range b {
				u = u<<8 | uint64(c)
			}
			return math.Float64frombits(u), nil
		}
		s, err := str("value")
		if err != nil {
			return nil, err
		}
		return strconv.ParseFloat(s, 64)
	case "complex":
		re, err := typedToValueErr(m["real"])
		if err != nil {
			return nil, err
		}
		im, err := typedToValueErr(m["imag"])
		if err != nil {
			return nil, err
		}
		rf, ok1 := re.(float64)
		imf, ok2 := im.(float64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("typed complex: parts are %T and %T", re, im)
		}
		return complex(rf, imf), nil
	case "str":
		if h, ok := m["utf8_hex"].(string); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}
		if rep, ok := m["repeat"].(string); ok {
			cnt, ok := m["count"].(float64)
			if !ok {
				return nil, fmt.Errorf("typed str: repeat without count")
			}
			return strings.Repeat(rep, int(cnt)), nil
		}
		return str("value")
	case "bytes":
		if h, ok := m["repeat_hex"].(string); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, err
			}
			cnt, ok := m["count"].(float64)
			if !ok {
				return nil, fmt.Errorf("typed bytes: repeat_hex without count")
			}
			return bytes.Repeat(b, int(cnt)), nil
		}
		h, err := str("hex")
		if err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "tuple":
		it, err := items()
		if err != nil {
			return nil, err
		}
		return Tuple(it), nil
	case "frozenset":
		it, err := items()
		if err != nil {
			return nil, err
		}
		return FrozenSet(it), nil
	case "slice":
		var parts [3]any
		for i, k := range []string{"start", "stop", "step"} {
			v, err := typedToValueErr(m[k])
			if err != nil {
				return nil, fmt.Errorf("slice %s: %w", k, err)
			}
			parts[i] = v
		}
		return Slice{Start: parts[0], Stop: parts[1], Step: parts[2]}, nil
	}
	return nil, fmt.Errorf("unknown typed type %v", m["type"])
}

// intFromDecimal returns the canonical Go value of a Python int: int64 when
// it fits, else *big.Int.
func intFromDecimal(s string) (any, error) {
	bi, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad int %q", s)
	}
	if bi.IsInt64() {
		return bi.Int64(), nil
	}
	return bi, nil
}

// valueEqual reports whether two values of the codec's value model are
// equal as the vectors define it: Go types must match exactly (string is
// never []byte; an int that fits in int64 is never a *big.Int), floats
// compare by their bits (so NaN equals NaN and -0.0 differs from 0.0),
// nil and empty []byte are equal, and frozensets compare as sets (order
// and duplicates ignored).
func valueEqual(a, b any) bool {
	return valueDiff(a, b) == ""
}

// valueDiff describes the first difference between a and b ("" if they are
// equal in the sense of valueEqual).
func valueDiff(a, b any) string {
	if d := diffAt(a, b); d != "" {
		return "value" + d
	}
	return ""
}

// diffAt returns "" or the path below the current value followed by ": "
// and what differs.
func diffAt(a, b any) string {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return fmt.Sprintf(": type %T vs %T", a, b)
	}
	switch x := a.(type) {
	case nil:
		return ""
	case *big.Int:
		y := b.(*big.Int)
		if (x == nil) != (y == nil) || x != nil && x.Cmp(y) != 0 {
			return fmt.Sprintf(": %v vs %v", x, y)
		}
		return ""
	case float64:
		y := b.(float64)
		if math.Float64bits(x) != math.Float64bits(y) {
			return fmt.Sprintf(": float %v (%016x) vs %v (%016x)", x, math.Float64bits(x), y, math.Float64bits(y))
		}
		return ""
	case float32:
		if math.Float32bits(x) != math.Float32bits(b.(float32)) {
			return fmt.Sprintf(": float32 %v vs %v", x, b)
		}
		return ""
	case complex128:
		y := b.(complex128)
		if math.Float64bits(real(x)) != math.Float64bits(real(y)) || math.Float64bits(imag(x)) != math.Float64bits(imag(y)) {
			return fmt.Sprintf(": complex %v vs %v", x, y)
		}
		return ""
	case []byte:
		if !bytes.Equal(x, b.([]byte)) {
			return fmt.Sprintf(": bytes %s vs %s", shortHex(x), shortHex(b.([]byte)))
		}
		return ""
	case string:
		if x != b.(string) {
			return fmt.Sprintf(": str %q vs %q", clipStr(x), clipStr(b.(string)))
		}
		return ""
	case Tuple:
		return diffItems(x, b.(Tuple))
	case []any:
		return diffItems(x, b.([]any))
	case FrozenSet:
		y := b.(FrozenSet)
		if len(x) == len(y) && diffItems(x, y) == "" {
			return "" // same order: no need for the quadratic set comparison
		}
		for i, it := range x {
			if !containsValue(y, it) {
				return fmt.Sprintf(": frozenset item %d (%v) missing from the other", i, it)
			}
		}
		for i, it := range y {
			if !containsValue(x, it) {
				return fmt.Sprintf(": frozenset item %d (%v) of the other missing", i, it)
			}
		}
		return ""
	case Slice:
		y := b.(Slice)
		if d := diffAt(x.Start, y.Start); d != "" {
			return ".start" + d
		}
		if d := diffAt(x.Stop, y.Stop); d != "" {
			return ".stop" + d
		}
		if d := diffAt(x.Step, y.Step); d != "" {
			return ".step" + d
		}
		return ""
	case bool, int64, int, int8, int16, int32, uint, uint8, uint16, uint32, uint64, complex64, Singleton:
		if a != b {
			return fmt.Sprintf(": %v vs %v", a, b)
		}
		return ""
	}
	return fmt.Sprintf(": cannot compare values of type %T", a)
}

func diffItems(x, y []any) string {
	if len(x) != len(y) {
		return fmt.Sprintf(": %d items vs %d", len(x), len(y))
	}
	for i := range x {
		if d := diffAt(x[i], y[i]); d != "" {
			return fmt.Sprintf("[%d]%s", i, d)
		}
	}
	return ""
}

func containsValue(set []any, v any) bool {
	for _, it := range set {
		if valueEqual(it, v) {
			return true
		}
	}
	return false
}

func shortHex(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%x...(%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%x", b)
}

func clipStr(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%s...(%d bytes)", s[:64], len(s))
	}
	return s
}

// requireValueEqual fails the test when got differs from want (valueEqual).
func requireValueEqual(tb testing.TB, want, got any, msgAndArgs ...any) {
	tb.Helper()
	if d := valueDiff(want, got); d != "" {
		require.Fail(tb, "values differ (want vs got): "+d, msgAndArgs...)
	}
}
