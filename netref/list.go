package netref

import (
	"bytes"
	"context"
	"math"
	"math/big"
	"reflect"
	"slices"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// list is a read-only "builtins.list" over a Go slice or array. Reads go
// to the live slice without locking, as for dict.
type list struct {
	orig any
	rv   reflect.Value
}

// listMethods are the names a list answers, sorted.
var listMethods = []string{"__contains__", "__getitem__", "__iter__", "__len__", "__reversed__", "count", "index"}

func (l *list) unwrap() any   { return l.orig }
func (l *list) addr() uintptr { return addrOf(l.rv, unsafe.Pointer(l)) }

func (l *list) TypeName() string  { return "builtins.list" }
func (l *list) Inspect() []string { return slices.Clone(listMethods) }

func (l *list) GetAttr(ctx context.Context, name string) (any, error) {
	if _, ok := slices.BinarySearch(listMethods, name); ok {
		return &boundMethod{owner: l, name: name}, nil
	}
	if name == "__doc__" {
		return nil, nil
	}
	return nil, attributeError("list", name)
}

func (l *list) SetAttr(ctx context.Context, name string, value any) error {
	if _, ok := slices.BinarySearch(listMethods, name); ok {
		return attributeErrorf(name, "'list' object attribute '%s' is read-only", name)
	}
	return attributeError("list", name)
}

func (l *list) DelAttr(ctx context.Context, name string) error { return l.SetAttr(ctx, name, nil) }

func (l *list) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return nil, typeErrorf("'list' object is not callable")
}

func (l *list) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return safely(func() (any, error) { return l.callAttr(name, args, kwargs) })
}

func (l *list) item(i int) any { return resultValue(l.rv.Index(i)) }

func (l *list) callAttr(name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	n := l.rv.Len()
	switch name {
	case "__len__":
		if err := checkArgs("list", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return n, nil
	case "__getitem__":
		if err := checkArgs("list", name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		if s, ok := args[0].(codec.Slice); ok {
			start, stop, step, err := sliceIndices(s, n)
			if err != nil {
				return nil, err
			}
			out := codec.Tuple{}
			for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
				out = append(out, l.item(i))
			}
			return out, nil
		}
		i, ok := indexOf(args[0])
		if !ok {
			return nil, typeErrorf("list indices must be integers or slices, not %s", PyTypeName(args[0]))
		}
		if i < 0 {
			i += int64(n)
		}
		if i < 0 || i >= int64(n) {
			return nil, codec.NewPyError("IndexError", "list index out of range")
		}
		return l.item(int(i)), nil
	case "__contains__":
		if err := checkArgs("list", name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		for i := range n {
			if pyEqual(l.item(i), args[0]) {
				return true, nil
			}
		}
		return false, nil
	case "count":
		if err := checkArgs("list", name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		c := 0
		for i := range n {
			if pyEqual(l.item(i), args[0]) {
				c++
			}
		}
		return c, nil
	case "index":
		if err := checkArgs("list", name, args, kwargs, 1, 3); err != nil {
			return nil, err
		}
		lo, hi := 0, n
		if len(args) > 1 {
			var s codec.Slice
			s.Start = args[1]
			if len(args) > 2 {
				s.Stop = args[2]
			}
			var err error
			if lo, hi, _, err = sliceIndices(s, n); err != nil {
				return nil, err
			}
		}
		for i := lo; i < hi; i++ {
			if pyEqual(l.item(i), args[0]) {
				return i, nil
			}
		}
		return nil, codec.NewPyError("ValueError", codec.PyRepr(args[0])+" is not in list")
	case "__iter__", "__reversed__":
		if err := checkArgs("list", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		rev := name == "__reversed__"
		i := 0
		if rev {
			i = n - 1
		}
		next := func(context.Context) (any, bool, error) {
			if i < 0 || i >= l.rv.Len() {
				i = -1
				return nil, false, nil
			}
			v := l.item(i)
			if rev {
				i--
			} else {
				i++
			}
			return v, true, nil
		}
		gname := "list_iterator"
		if rev {
			gname = "list_reverseiterator"
		}
		return newGenerator(nil, gname, next, nil), nil
	case "__setitem__":
		return nil, typeErrorf("'list' object does not support item assignment")
	case "__delitem__":
		return nil, typeErrorf("'list' object does not support item deletion")
	}
	return nil, attributeError("list", name)
}

func (l *list) Str(ctx context.Context) (string, error) { return l.Repr(ctx) }

func (l *list) Repr(ctx context.Context) (string, error) {
	v, err := safely(func() (any, error) { return codec.PyRepr(l.orig), nil })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (l *list) Hash(ctx context.Context) (int64, error) {
	return 0, typeErrorf("unhashable type: 'list'")
}

func (l *list) Dir(ctx context.Context) ([]string, error) {
	return append(slices.Clone(listMethods), "__doc__"), nil
}

func (l *list) Cmp(ctx context.Context, other any, op string) (any, error) {
	return containerCmp(l, l.orig, l.rv, other, op), nil
}

// indexOf reads a Python int (or bool) used as an index, clamped to the
// int64 range.
func indexOf(v any) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case *big.Int:
		if x == nil {
			return 0, false
		}
		if x.IsInt64() {
			return x.Int64(), true
		}
		if x.Sign() < 0 {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	case uint64:
		if x > math.MaxInt64 {
			return math.MaxInt64, true
		}
		return int64(x), true
	}
	return codec.ToInt64(v)
}

// sliceIndices is Python's slice.indices(n): the start, stop and step a
// slice selects in a sequence of length n.
func sliceIndices(s codec.Slice, n int) (start, stop, step int, err error) {
	step = 1
	if s.Step != nil {
		st, ok := indexOf(s.Step)
		if !ok {
			return 0, 0, 0, typeErrorf("slice indices must be integers or None or have an __index__ method")
		}
		if st == 0 {
			return 0, 0, 0, codec.NewPyError("ValueError", "slice step cannot be zero")
		}
		step = int(max(min(st, math.MaxInt32), -math.MaxInt32))
	}
	bound := func(v any, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		x, ok := indexOf(v)
		if !ok {
			return 0, typeErrorf("slice indices must be integers or None or have an __index__ method")
		}
		if x < 0 {
			x += int64(n)
			if x < 0 {
				if step < 0 {
					return -1, nil
				}
				return 0, nil
			}
		} else if x >= int64(n) {
			if step < 0 {
				return n - 1, nil
			}
			return n, nil
		}
		return int(x), nil
	}
	defStart, defStop := 0, n
	if step < 0 {
		defStart, defStop = n-1, -1
	}
	if start, err = bound(s.Start, defStart); err != nil {
		return 0, 0, 0, err
	}
	if stop, err = bound(s.Stop, defStop); err != nil {
		return 0, 0, 0, err
	}
	return start, stop, step, nil
}

// pyEqual is Python's == between a Go value of a list and a decoded
// operand: numbers by value across int, float and bool, str, bytes,
// sequences item by item, anything else by Go equality.
func pyEqual(a, b any) bool {
	if na, ok := numberOf(a); ok {
		if nb, ok := numberOf(b); ok {
			return na.equal(nb)
		}
		return false
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	if bi, ok := sequenceItems(b); ok {
		av := reflect.ValueOf(a)
		if av.Kind() != reflect.Slice && av.Kind() != reflect.Array {
			return false
		}
		if av.Len() != len(bi) {
			return false
		}
		for i := range bi {
			if !pyEqual(resultValue(av.Index(i)), bi[i]) {
				return false
			}
		}
		return true
	}
	if o, ok := b.(Object); ok {
		b = Unwrap(o)
	}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if !av.IsValid() || !bv.IsValid() {
		return !av.IsValid() && !bv.IsValid()
	}
	if av.Type() != bv.Type() || !av.Comparable() || !bv.Comparable() {
		return false
	}
	return av.Equal(bv)
}

// number is a Python number for comparisons.
type number struct {
	isInt bool
	i     *big.Int
	f     float64
	c     complex128
	isCx  bool
}

func numberOf(v any) (number, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return number{isInt: true, i: big.NewInt(1)}, true
		}
		return number{isInt: true, i: big.NewInt(0)}, true
	case float64:
		return number{f: x}, true
	case float32:
		return number{f: float64(x)}, true
	case complex128:
		return number{c: x, isCx: true}, true
	case complex64:
		return number{c: complex128(x), isCx: true}, true
	}
	if n, ok := toBig(v); ok {
		return number{isInt: true, i: n}, true
	}
	return number{}, false
}

func (a number) float() float64 {
	if a.isInt {
		f, _ := new(big.Float).SetInt(a.i).Float64()
		return f
	}
	return a.f
}

func (a number) equal(b number) bool {
	switch {
	case a.isInt && b.isInt:
		return a.i.Cmp(b.i) == 0
	case a.isCx || b.isCx:
		ac, bc := a.c, b.c
		if !a.isCx {
			ac = complex(a.float(), 0)
		}
		if !b.isCx {
			bc = complex(b.float(), 0)
		}
		return ac == bc
	}
	return a.float() == b.float()
}
