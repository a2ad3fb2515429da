package netref

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// dict is a read-only "builtins.dict" over a Go map.
//
// Reads go to the live map, without locking: the map must not be written
// while the peer may read it (wrap a snapshot, or a type of your own with
// the dunder.go interfaces).
type dict struct {
	orig any
	rv   reflect.Value
}

// dictMethods are the names a dict answers, sorted.
var dictMethods = []string{"__contains__", "__getitem__", "__iter__", "__len__", "get", "items", "keys", "values"}

func (d *dict) unwrap() any   { return d.orig }
func (d *dict) addr() uintptr { return addrOf(d.rv, unsafe.Pointer(d)) }

func (d *dict) TypeName() string  { return "builtins.dict" }
func (d *dict) Inspect() []string { return slices.Clone(dictMethods) }

func (d *dict) GetAttr(ctx context.Context, name string) (any, error) {
	if _, ok := slices.BinarySearch(dictMethods, name); ok {
		return &boundMethod{owner: d, name: name}, nil
	}
	if name == "__doc__" {
		return nil, nil
	}
	return nil, attributeError("dict", name)
}

func (d *dict) SetAttr(ctx context.Context, name string, value any) error {
	if _, ok := slices.BinarySearch(dictMethods, name); ok {
		return attributeErrorf(name, "'dict' object attribute '%s' is read-only", name)
	}
	return attributeError("dict", name)
}

func (d *dict) DelAttr(ctx context.Context, name string) error { return d.SetAttr(ctx, name, nil) }

func (d *dict) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return nil, typeErrorf("'dict' object is not callable")
}

// lookup finds key in the map; a key that cannot be converted to the map's
// key type is simply missing.
func (d *dict) lookup(key any) (reflect.Value, bool) {
	kt := d.rv.Type().Key()
	kv := reflect.New(kt).Elem()
	if err := convertInto(kv, key); err != nil {
		return reflect.Value{}, false
	}
	if kt.Kind() == reflect.Interface && !kv.IsNil() && !kv.Elem().Type().Comparable() {
		return reflect.Value{}, false // would panic as a map key
	}
	v := d.rv.MapIndex(kv)
	return v, v.IsValid()
}

// sortedKeys returns the keys, sorted when their type is ordered.
func (d *dict) sortedKeys() []reflect.Value {
	keys := d.rv.MapKeys()
	switch d.rv.Type().Key().Kind() {
	case reflect.String:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Int(), b.Int()) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Uint(), b.Uint()) })
	case reflect.Float32, reflect.Float64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Float(), b.Float()) })
	}
	return keys
}

func (d *dict) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	return safely(func() (any, error) { return d.callAttr(name, args, kwargs) })
}

func (d *dict) callAttr(name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	switch name {
	case "__len__":
		if err := checkArgs("dict", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return d.rv.Len(), nil
	case "__getitem__":
		if err := checkArgs("dict", name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		v, ok := d.lookup(args[0])
		if !ok {
			return nil, codec.NewPyError("KeyError", args[0])
		}
		return resultValue(v), nil
	case "__contains__":
		if err := checkArgs("dict", name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		_, ok := d.lookup(args[0])
		return ok, nil
	case "get":
		if err := checkArgs("dict", name, args, kwargs, 1, 2); err != nil {
			return nil, err
		}
		if v, ok := d.lookup(args[0]); ok {
			return resultValue(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return nil, nil
	case "__iter__", "keys", "values", "items":
		if err := checkArgs("dict", name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		keys := d.sortedKeys()
		items := make([]any, len(keys))
		for i, k := range keys {
			switch name {
			case "values":
				items[i] = resultValue(d.rv.MapIndex(k))
			case "items":
				items[i] = codec.Tuple{resultValue(k), resultValue(d.rv.MapIndex(k))}
			default:
				items[i] = resultValue(k)
			}
		}
		if name == "__iter__" {
			return newItemsGenerator(nil, "dict_keyiterator", items), nil
		}
		return codec.Tuple(items), nil
	case "__setitem__":
		return nil, typeErrorf("'dict' object does not support item assignment")
	case "__delitem__":
		return nil, typeErrorf("'dict' object does not support item deletion")
	}
	return nil, attributeError("dict", name)
}

func (d *dict) Str(ctx context.Context) (string, error) { return d.Repr(ctx) }

func (d *dict) Repr(ctx context.Context) (string, error) {
	v, err := safely(func() (any, error) { return codec.PyRepr(d.orig), nil })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (d *dict) Hash(ctx context.Context) (int64, error) {
	return 0, typeErrorf("unhashable type: 'dict'")
}

func (d *dict) Dir(ctx context.Context) ([]string, error) {
	return append(slices.Clone(dictMethods), "__doc__"), nil
}

func (d *dict) Cmp(ctx context.Context, other any, op string) (any, error) {
	return containerCmp(d, d.orig, d.rv, other, op), nil
}

// containerCmp compares a dict or list: equal when other is the same
// object or a local Go value of the same type with equal contents;
// NotImplemented for other operands and operators, as Python's own types
// answer for foreign types.
func containerCmp(self Object, orig any, rv reflect.Value, other any, op string) any {
	if op != "__eq__" && op != "__ne__" {
		return codec.NotImplemented
	}
	if identical(self, orig, rv, other) {
		return eqResult(op, true)
	}
	if o, ok := other.(Object); ok {
		other = Unwrap(o)
	}
	if other != nil && reflect.TypeOf(other) == rv.Type() {
		return eqResult(op, reflect.DeepEqual(orig, other))
	}
	return codec.NotImplemented
}
