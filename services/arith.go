package services

import (
	"math"
	"math/big"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// This file holds the Python number semantics the CONFORMANCE service needs:
// int + int without overflow (int64, promoted to *big.Int), int and float
// mixed as Python mixes them, and true division correctly rounded as
// CPython's int / int is.

// intKind classifies v: 'i' for a Python int (bool excluded: the
// CONFORMANCE service does not treat bool as an int), 'f' for a float, 0
// otherwise.
func numKind(v any) byte {
	switch v.(type) {
	case bool:
		return 0
	case float64, float32:
		return 'f'
	}
	if codec.IsInt(v) {
		return 'i'
	}
	return 0
}

// toBig returns the Python int v as a new *big.Int.
func toBig(v any) *big.Int {
	switch x := v.(type) {
	case *big.Int:
		return new(big.Int).Set(x)
	case uint:
		return new(big.Int).SetUint64(uint64(x))
	case uint64:
		return new(big.Int).SetUint64(x)
	}
	n, _ := codec.ToInt64(v)
	return big.NewInt(n)
}

// normInt returns x as int64 when it fits, as the codec's value model
// decodes ints.
func normInt(x *big.Int) any {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// addInts adds two Python ints of any size.
func addInts(a, b any) any {
	x, ok1 := a.(int64)
	y, ok2 := b.(int64)
	if ok1 && ok2 {
		s := x + y
		// Overflow iff both operands have the same sign and the sum's differs.
		if (x >= 0) == (y >= 0) && (s >= 0) != (x >= 0) {
			return new(big.Int).Add(big.NewInt(x), big.NewInt(y))
		}
		return s
	}
	return normInt(new(big.Int).Add(toBig(a), toBig(b)))
}

// intToFloat converts a Python int to the nearest float64 (ties to even,
// as CPython's float(int) does); OverflowError when it is out of range.
func intToFloat(v any) (float64, error) {
	if n, ok := codec.ToInt64(v); ok {
		if n > -(1<<53) && n < 1<<53 {
			return float64(n), nil
		}
	}
	f, _ := new(big.Float).SetInt(toBig(v)).Float64()
	if math.IsInf(f, 0) {
		return 0, codec.NewPyError("OverflowError", "int too large to convert to float")
	}
	return f, nil
}

// toFloat returns a Python int or float as float64.
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	return intToFloat(v)
}

// pyAdd is a + b for the pairs of types the CONFORMANCE service accepts:
// int+int (any size), float and int mixed, str+str, bytes+bytes. Any other
// pair raises TypeError, worded as Python words it.
func pyAdd(a, b any) (any, error) {
	ka, kb := numKind(a), numKind(b)
	switch {
	case ka == 'i' && kb == 'i':
		return addInts(a, b), nil
	case ka != 0 && kb != 0:
		x, err := toFloat(a)
		if err != nil {
			return nil, err
		}
		y, err := toFloat(b)
		if err != nil {
			return nil, err
		}
		return x + y, nil
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x + y, nil
		}
		return nil, codec.Errorf("TypeError", "can only concatenate str (not \"%s\") to str", pyTypeName(b))
	case []byte:
		if y, ok := b.([]byte); ok {
			out := make([]byte, 0, len(x)+len(y))
			return append(append(out, x...), y...), nil
		}
		return nil, codec.Errorf("TypeError", "can't concat %s to bytes", pyTypeName(b))
	}
	return nil, unsupported("+", a, b)
}

// unsupported is Python's TypeError for an operator between two types.
func unsupported(op string, a, b any) error {
	return codec.Errorf("TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", op, pyTypeName(a), pyTypeName(b))
}

// pyTrueDiv is Python's a / b for ints and floats: int / int is the
// correctly rounded quotient (computed exactly with big.Rat), anything with
// a float converts the int to float first. Division by zero raises
// ZeroDivisionError with Python's message.
func pyTrueDiv(a, b any) (float64, error) {
	ka, kb := numKind(a), numKind(b)
	if ka == 0 || kb == 0 {
		return 0, unsupported("/", a, b)
	}
	if ka == 'i' && kb == 'i' {
		y := toBig(b)
		if y.Sign() == 0 {
			return 0, codec.NewPyError("ZeroDivisionError", "division by zero")
		}
		x := toBig(a)
		// Small operands: float64 division is exact enough to be correctly
		// rounded when both are exactly representable.
		if x.IsInt64() && y.IsInt64() {
			xi, yi := x.Int64(), y.Int64()
			if xi > -(1<<53) && xi < 1<<53 && yi > -(1<<53) && yi < 1<<53 {
				return float64(xi) / float64(yi), nil
			}
		}
		f, _ := new(big.Rat).SetFrac(x, y).Float64()
		if math.IsInf(f, 0) {
			return 0, codec.NewPyError("OverflowError", "integer division result too large for a float")
		}
		return f, nil
	}
	x, err := toFloat(a)
	if err != nil {
		return 0, err
	}
	y, err := toFloat(b)
	if err != nil {
		return 0, err
	}
	if y == 0 {
		return 0, codec.NewPyError("ZeroDivisionError", "float division by zero")
	}
	return x / y, nil
}

// pyTypeName is the Python type name of a value of the value model, or of
// a reference ("netref" for a proxy of the peer's).
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case float64, float32:
		return "float"
	case complex128, complex64:
		return "complex"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case codec.Tuple, []any:
		return "tuple"
	case codec.FrozenSet:
		return "frozenset"
	case codec.Slice:
		return "slice"
	case codec.Singleton:
		switch x {
		case codec.Ellipsis:
			return "ellipsis"
		case codec.NotImplemented:
			return "NotImplementedType"
		}
	case *netref.Proxy:
		return shortName(x.ID().Name)
	case netref.Object:
		return shortName(x.TypeName())
	}
	if codec.IsInt(v) {
		return "int"
	}
	return "object"
}

func shortName(namePack string) string {
	for i := len(namePack) - 1; i >= 0; i-- {
		if namePack[i] == '.' {
			return namePack[i+1:]
		}
	}
	return namePack
}
