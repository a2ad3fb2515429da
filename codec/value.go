package codec

import (
	"fmt"
	"math/big"
)

// Tuple is a Python tuple. Its items are values of the model described in
// the package documentation.
type Tuple []any

// FrozenSet is a Python frozenset. Items keep the order in which they were
// decoded (or are encoded); duplicates are not removed, and comparisons
// should treat it as unordered.
type FrozenSet []any

// Slice is a Python slice object. Each field is any brine value; nil means
// None (an omitted bound).
type Slice struct {
	Start, Stop, Step any
}

// Singleton is one of Python's two special singletons that brine carries.
type Singleton uint8

const (
	// Ellipsis is Python's Ellipsis (...).
	Ellipsis Singleton = 1
	// NotImplemented is Python's NotImplemented.
	NotImplemented Singleton = 2
)

// String returns the Python name of the singleton.
func (s Singleton) String() string {
	switch s {
	case Ellipsis:
		return "Ellipsis"
	case NotImplemented:
		return "NotImplemented"
	}
	return fmt.Sprintf("Singleton(%d)", uint8(s))
}

// IsInt reports whether v is a Python int of the value model (int64 or
// *big.Int; the encoder also accepts Go's other integer types).
func IsInt(v any) bool {
	switch v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return true
	}
	return false
}

// ToInt64 returns v as an int64 when v is an integer of the value model that
// fits in 64 bits.
func ToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) > 1<<63-1 {
			return 0, false
		}
		return int64(x), true
	case uint64:
		if x > 1<<63-1 {
			return 0, false
		}
		return int64(x), true
	case *big.Int:
		if x != nil && x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}
