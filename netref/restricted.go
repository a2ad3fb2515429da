package netref

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/rpycgo/rpycgo/codec"
)

// restrictedTypeName is the name_pack of restricted views. "rpycgo." is
// not a Python module, so a Python peer INSPECTs the view and builds its
// proxy class from the allowed dunders only.
const restrictedTypeName = "rpycgo.Restricted"

// Restricted returns a view of obj that exposes to the peer only the
// attributes named in readable (GETATTR, and CALLATTR for methods) and
// lets it set only those named in writable (SETATTR); any other name fails
// with AttributeError(name), as with RPyC's rpyc.restricted(obj, attrs,
// wattrs). Unlike RPyC, writable is not defaulted to readable: pass the
// same slice twice for that, or nil to forbid every write.
//
// Names are the peer's: snake_case method names ("incr_by" for IncrBy) and
// field names. A readable or writable name that obj's Wrap adapter does
// not expose is looked up among obj's exported struct fields by `rpyc` tag
// name, snake_case name or Go name, so a restricted view can expose a plain
// field without tagging it; writing a field needs obj to be a pointer to a
// struct. Such field access is not synchronised with obj's methods. Methods
// read through the view are bound to it: their __self__ is the view, not
// obj. Dunders in readable ("__len__", "__iter__", "__call__"...) enable
// the corresponding Python operations when obj supports them.
//
// SETATTR reaches the view only if the connection allows it
// (conn.WithSetattr(true)); the view is then what limits writes. Deleting
// attributes is always refused.
func Restricted(obj any, readable []string, writable []string) Object {
	return &restricted{
		inner: Wrap(obj),
		orig:  obj,
		read:  slices.Clone(readable),
		write: slices.Clone(writable),
	}
}

type restricted struct {
	inner Object
	orig  any
	read  []string
	write []string
}

func (r *restricted) TypeName() string { return restrictedTypeName }

// Inspect lists the inner object's operations that readable allows.
func (r *restricted) Inspect() []string {
	var out []string
	for _, n := range r.inner.Inspect() {
		if slices.Contains(r.read, n) {
			out = append(out, n)
		}
	}
	return out
}

func (r *restricted) denied(name string) error {
	return attributeErrorf(name, "%s", name)
}

func (r *restricted) GetAttr(ctx context.Context, name string) (any, error) {
	if !slices.Contains(r.read, name) {
		return nil, r.denied(name)
	}
	v, err := r.inner.GetAttr(ctx, name)
	if bm, ok := v.(*boundMethod); ok && bm.owner == r.inner {
		// Bind the method to the view, so that its __self__ does not hand
		// out the unrestricted object.
		return &boundMethod{owner: r, name: bm.name}, nil
	}
	if isAttributeError(err) {
		if f, ok := r.field(name); ok {
			return resultValue(f), nil
		}
	}
	return v, err
}

func (r *restricted) SetAttr(ctx context.Context, name string, value any) error {
	if !slices.Contains(r.write, name) {
		return r.denied(name)
	}
	err := r.inner.SetAttr(ctx, name, value)
	if !isAttributeError(err) {
		return err
	}
	f, ok := r.field(name)
	if !ok || !f.CanSet() {
		return err
	}
	cv, cerr := Convert(value, f.Type())
	if cerr != nil {
		return cerr
	}
	f.Set(cv)
	return nil
}

func (r *restricted) DelAttr(ctx context.Context, name string) error {
	return r.denied(name)
}

func (r *restricted) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	if !slices.Contains(r.read, "__call__") {
		return nil, typeErrorf("'Restricted' object is not callable")
	}
	return r.inner.Call(ctx, args, kwargs)
}

func (r *restricted) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	if !slices.Contains(r.read, name) {
		return nil, r.denied(name)
	}
	return r.inner.CallAttr(ctx, name, args, kwargs)
}

func (r *restricted) Str(ctx context.Context) (string, error) { return r.Repr(ctx) }

func (r *restricted) Repr(ctx context.Context) (string, error) {
	return fmt.Sprintf("<restricted %s object>", shortName(r.inner.TypeName())), nil
}

func (r *restricted) Hash(ctx context.Context) (int64, error) { return r.inner.Hash(ctx) }

// Dir lists the readable names only.
func (r *restricted) Dir(ctx context.Context) ([]string, error) {
	out := slices.Clone(r.read)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Cmp compares by identity: the peer's fallback for NotImplemented.
func (r *restricted) Cmp(ctx context.Context, other any, op string) (any, error) {
	return codec.NotImplemented, nil
}

func isAttributeError(err error) bool {
	var pe *codec.PyError
	return errors.As(err, &pe) && pe.Class == "AttributeError"
}

// field finds the exported struct field of the wrapped value named name
// (by rpyc tag, snake_case or Go name).
func (r *restricted) field(name string) (reflect.Value, bool) {
	v := reflect.ValueOf(r.orig)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(sf.Tag.Get("rpyc"), ",")
		if tag == "-" {
			continue
		}
		if tag == name || SnakeCase(sf.Name) == name || sf.Name == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}
