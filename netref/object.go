package netref

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/rpycgo/rpycgo/codec"
)

// typeInfo is what the peer can reach on values of one Go type, built once
// per type (typeInfoOf) and shared by every object of that type.
type typeInfo struct {
	name     string // Python class name: "Counter"
	typeName string // name_pack: "rpycgo.Counter"
	methods  map[string]*callSig
	props    map[string]*callSig // methods read as attributes (PropertyNamer)
	fields   map[string]*fieldInfo
	dunders  map[string]bool // dunders answered through dunder.go interfaces
	inspect  []string
	dir      []string
}

// fieldInfo is one field exposed with an rpyc tag.
type fieldInfo struct {
	index []int
	typ   reflect.Type
	rw    bool
}

var typeInfos sync.Map // reflect.Type → *typeInfo

// noneTypeInfo serves Wrap(nil): an object with nothing to offer.
var noneTypeInfo = &typeInfo{name: "object", typeName: "builtins.object"}

var lockerMethods = []string{"Lock", "Unlock", "TryLock", "RLock", "RUnlock", "TryRLock", "RLocker"}

// typeInfoOf returns the cached table for receiver type t.
func typeInfoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti, _ := typeInfos.LoadOrStore(t, buildTypeInfo(t))
	return ti.(*typeInfo)
}

func buildTypeInfo(t reflect.Type) *typeInfo {
	ti := &typeInfo{
		name:    goTypeName(t),
		methods: map[string]*callSig{},
		props:   map[string]*callSig{},
		fields:  map[string]*fieldInfo{},
		dunders: map[string]bool{},
	}
	ti.typeName = "rpycgo." + ti.name

	hidden := map[string]bool{}
	for _, d := range dunderIfaces {
		if t.Implements(reflect.TypeOf(d.iface).Elem()) {
			for _, n := range d.goNames {
				hidden[n] = true
			}
		}
	}
	if t.Implements(reflect.TypeFor[sync.Locker]()) {
		for _, n := range lockerMethods {
			hidden[n] = true
		}
	}
	dunderOf := []struct {
		iface reflect.Type
		names []string
	}{
		{reflect.TypeFor[Lener](), []string{"__len__"}},
		{reflect.TypeFor[Booler](), []string{"__bool__"}},
		{reflect.TypeFor[ItemGetter](), []string{"__getitem__"}},
		{reflect.TypeFor[ItemSetter](), []string{"__setitem__"}},
		{reflect.TypeFor[ItemDeleter](), []string{"__delitem__"}},
		{reflect.TypeFor[Container](), []string{"__contains__"}},
		{reflect.TypeFor[Iterable](), []string{"__iter__"}},
		{reflect.TypeFor[ContextManager](), []string{"__enter__", "__exit__"}},
		{reflect.TypeFor[Caller](), []string{"__call__"}},
	}
	for _, d := range dunderOf {
		if t.Implements(d.iface) {
			for _, n := range d.names {
				ti.dunders[n] = true
				ti.inspect = append(ti.inspect, n)
			}
		}
	}
	slices.Sort(ti.inspect)

	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct {
		for _, f := range reflect.VisibleFields(st) {
			tag, ok := f.Tag.Lookup("rpyc")
			if !ok || tag == "-" || !exportedPath(st, f.Index) {
				continue
			}
			name, opt, _ := strings.Cut(tag, ",")
			if name == "" {
				name = SnakeCase(f.Name)
			}
			if _, dup := ti.fields[name]; dup {
				continue
			}
			ti.fields[name] = &fieldInfo{index: f.Index, typ: f.Type, rw: opt == "rw"}
		}
	}

	var params map[string][]string
	if t.Implements(reflect.TypeFor[ParamNamer]()) {
		params = paramNames(t)
	}
	inline := map[string]bool{}
	if t.Implements(reflect.TypeFor[InlineNamer]()) {
		for _, n := range inlineNames(t) {
			inline[n] = true
		}
	}
	props := map[string]bool{}
	if t.Implements(reflect.TypeFor[PropertyNamer]()) {
		for _, n := range propertyNames(t) {
			props[n] = true
		}
	}
	for i := range t.NumMethod() {
		m := t.Method(i)
		if hidden[m.Name] {
			continue
		}
		py := SnakeCase(m.Name)
		if _, dup := ti.fields[py]; dup {
			continue
		}
		if _, dup := ti.methods[py]; dup {
			continue
		}
		if _, dup := ti.props[py]; dup {
			continue
		}
		sig := newCallSig(m.Func, m.Type, true, py, params[m.Name])
		sig.mindex, sig.fast = i, fastKindOfMethod(m.Type)
		sig.direct = directOf(m.Func, t, sig.fast)
		sig.inline.Store(inline[m.Name])
		if props[m.Name] && sig.shape.takesNothing() {
			ti.props[py] = sig
			continue
		}
		ti.methods[py] = sig
	}

	for n := range ti.methods {
		ti.dir = append(ti.dir, n)
	}
	for n := range ti.props {
		ti.dir = append(ti.dir, n)
	}
	for n := range ti.fields {
		ti.dir = append(ti.dir, n)
	}
	ti.dir = append(ti.dir, ti.inspect...)
	ti.dir = append(ti.dir, "__doc__")
	slices.Sort(ti.dir)
	return ti
}

// exportedPath reports whether every field on the index path is exported,
// so that reflect lets the value be read and set.
func exportedPath(t reflect.Type, index []int) bool {
	for _, i := range index {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		f := t.Field(i)
		if !f.IsExported() {
			return false
		}
		t = f.Type
	}
	return true
}

// paramNames calls RPyCParams on a fresh zero value of t.
func paramNames(t reflect.Type) (names map[string][]string) {
	defer func() {
		if recover() != nil {
			names = nil
		}
	}()
	return zeroOf(t).Interface().(ParamNamer).RPyCParams()
}

// zeroOf is a fresh zero value of t (a new one for a pointer type).
func zeroOf(t reflect.Type) reflect.Value {
	if t.Kind() == reflect.Pointer {
		return reflect.New(t.Elem())
	}
	return reflect.Zero(t)
}

// inlineNames calls RPyCInline on a fresh zero value of t.
func inlineNames(t reflect.Type) (names []string) {
	defer func() {
		if recover() != nil {
			names = nil
		}
	}()
	return zeroOf(t).Interface().(InlineNamer).RPyCInline()
}

// InlineMethod implements Inliner: methods listed by RPyCInline.
func (o *object) InlineMethod(name string) bool {
	sig, ok := o.ti.methods[name]
	return ok && sig.inline.Load()
}

// SetInline turns inline service (see InlineNamer) of the Go method named
// method on or off for every value of v's type, whether or not the type
// lists it in RPyCInline: for types one cannot add RPyCInline to, or to
// bring back a method demoted for overrunning InlineBudget. It reports
// whether the type has such a method exposed.
func SetInline(v any, method string, inline bool) bool {
	if v == nil {
		return false
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Struct {
		t = reflect.PointerTo(t) // as Wrap serves a struct value
	}
	sig, ok := typeInfoOf(t).methods[SnakeCase(method)]
	if ok {
		sig.strikeMu.Lock()
		sig.strikes = 0
		sig.strikeMu.Unlock()
		sig.inline.Store(inline)
	}
	return ok
}

// NotInline implements Inliner.
func (o *object) NotInline(name string) {
	if sig, ok := o.ti.methods[name]; ok {
		sig.inline.Store(false)
	}
}

// Overran implements OverrunCounter.
func (o *object) Overran(name string) bool {
	sig, ok := o.ti.methods[name]
	if !ok {
		return false
	}
	sig.strikeMu.Lock()
	defer sig.strikeMu.Unlock()
	if now := time.Now(); sig.strikes == 0 || now.Sub(sig.struckAt) > InlineStrikeWindow {
		if sig.strikes >= InlineStrikes {
			return false // demoted already
		}
		sig.strikes, sig.struckAt = 0, now
	}
	sig.strikes++
	if sig.strikes != InlineStrikes {
		return false
	}
	sig.inline.Store(false)
	return true
}

// propertyNames calls RPyCProperties on a fresh zero value of t.
func propertyNames(t reflect.Type) (names []string) {
	defer func() {
		if recover() != nil {
			names = nil
		}
	}()
	return zeroOf(t).Interface().(PropertyNamer).RPyCProperties()
}

// object adapts a struct, a pointer to one, or any value with methods.
type object struct {
	orig any           // the value given to Wrap
	rv   reflect.Value // the receiver (a pointer to a copy for a struct value)
	iv   any           // rv.Interface(), for the dunder interfaces
	ti   *typeInfo
	fast sync.Map // *callSig → its bound method value (fastcall.go)
}

func newObject(v any, rv reflect.Value) *object {
	if rv.Kind() == reflect.Struct {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p
	}
	return &object{orig: v, rv: rv, iv: rv.Interface(), ti: typeInfoOf(rv.Type())}
}

func (o *object) unwrap() any { return o.orig }

func (o *object) addr() uintptr { return addrOf(o.rv, unsafe.Pointer(o)) }

// TypeName returns "rpycgo.<GoTypeName>".
func (o *object) TypeName() string { return o.ti.typeName }

// Inspect lists the dunders the type supports.
func (o *object) Inspect() []string { return slices.Clone(o.ti.inspect) }

func (o *object) GetAttr(ctx context.Context, name string) (any, error) {
	if _, ok := o.ti.methods[name]; ok {
		return &boundMethod{owner: o, name: name}, nil
	}
	if sig, ok := o.ti.props[name]; ok {
		return sig.call(ctx, sig.fn, o.rv, nil, nil)
	}
	if f, ok := o.ti.fields[name]; ok {
		fv, err := o.field(name, f)
		if err != nil {
			return nil, err
		}
		return resultValue(fv), nil
	}
	if o.ti.dunders[name] {
		return &boundMethod{owner: o, name: name}, nil
	}
	if name == "__doc__" {
		return nil, nil
	}
	return nil, attributeError(o.ti.name, name)
}

// field returns the storage of an exposed field; a nil pointer on the way
// makes the field missing.
func (o *object) field(name string, f *fieldInfo) (reflect.Value, error) {
	v := o.rv
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}, attributeError(o.ti.name, name)
		}
		v = v.Elem()
	}
	fv, err := v.FieldByIndexErr(f.index)
	if err != nil {
		return reflect.Value{}, attributeError(o.ti.name, name)
	}
	return fv, nil
}

func (o *object) SetAttr(ctx context.Context, name string, value any) error {
	if f, ok := o.ti.fields[name]; ok {
		if !f.rw {
			return attributeErrorf(name, "property '%s' of '%s' object has no setter", name, o.ti.name)
		}
		fv, err := o.field(name, f)
		if err != nil {
			return err
		}
		if !fv.CanSet() {
			return attributeErrorf(name, "property '%s' of '%s' object has no setter", name, o.ti.name)
		}
		nv, err := Convert(value, f.typ)
		if err != nil {
			if e, ok := err.(*codec.PyError); ok && len(e.Args) == 1 {
				if msg, ok := e.Args[0].(string); ok {
					e.Args[0] = strings.Replace(msg, "argument", "attribute '"+name+"'", 1)
				}
			}
			return err
		}
		fv.Set(nv)
		return nil
	}
	if _, ok := o.ti.props[name]; ok {
		return attributeErrorf(name, "property '%s' of '%s' object has no setter", name, o.ti.name)
	}
	if _, ok := o.ti.methods[name]; ok {
		return attributeErrorf(name, "'%s' object attribute '%s' is read-only", o.ti.name, name)
	}
	return attributeError(o.ti.name, name)
}

func (o *object) DelAttr(ctx context.Context, name string) error {
	_, field := o.ti.fields[name]
	_, prop := o.ti.props[name]
	if field || prop {
		return attributeErrorf(name, "property '%s' of '%s' object has no deleter", name, o.ti.name)
	}
	if _, ok := o.ti.methods[name]; ok {
		return attributeErrorf(name, "'%s' object attribute '%s' is read-only", o.ti.name, name)
	}
	return attributeError(o.ti.name, name)
}

func (o *object) Call(ctx context.Context, args codec.Tuple, kwargs []Kwarg) (any, error) {
	c, ok := o.iv.(Caller)
	if !ok {
		return nil, typeErrorf("'%s' object is not callable", o.ti.name)
	}
	return safely(func() (any, error) { return c.Call(ctx, args, kwargs) })
}

func (o *object) CallAttr(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	if sig, ok := o.ti.methods[name]; ok {
		if len(kwargs) == 0 && sig.fast.fits(len(args)) {
			return o.callFast(ctx, sig, args)
		}
		return sig.call(ctx, sig.fn, o.rv, args, kwargs)
	}
	_, prop := o.ti.props[name]
	_, field := o.ti.fields[name]
	if prop || field {
		return o.callAttribute(ctx, name, args, kwargs)
	}
	if !o.ti.dunders[name] {
		switch name {
		case "__str__", "__repr__", "__hash__", "__eq__", "__ne__":
			return o.localDunder(ctx, name, args, kwargs)
		}
		return nil, attributeError(o.ti.name, name)
	}
	if name == "__call__" {
		return o.Call(ctx, args, kwargs)
	}
	return safely(func() (any, error) { return o.dunder(ctx, name, args, kwargs) })
}

// callAttribute is CALLATTR on a property or field: Python reads the
// attribute and calls what it got.
func (o *object) callAttribute(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	v, err := o.GetAttr(ctx, name)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case Object:
		return x.Call(ctx, args, kwargs)
	case *Proxy:
		return x.CallKw(ctx, args, kwargs)
	}
	if _, ok := v.(Caller); ok {
		// An exposed class or any other callable Go value: called as
		// GETATTR + CALL would call it.
		return Wrap(v).Call(ctx, args, kwargs)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Func && !rv.IsNil() {
		return Wrap(v).Call(ctx, args, kwargs)
	}
	return nil, typeErrorf("'%s' object is not callable", PyTypeName(v))
}

// dunder answers a dunder the type supports (ti.dunders).
func (o *object) dunder(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	cls := o.ti.name
	switch name {
	case "__len__":
		if err := checkArgs(cls, name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return o.iv.(Lener).Len(), nil
	case "__bool__":
		if err := checkArgs(cls, name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return o.iv.(Booler).Bool(), nil
	case "__getitem__":
		if err := checkArgs(cls, name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		return o.iv.(ItemGetter).GetItem(ctx, args[0])
	case "__setitem__":
		if err := checkArgs(cls, name, args, kwargs, 2, 2); err != nil {
			return nil, err
		}
		return nil, o.iv.(ItemSetter).SetItem(ctx, args[0], args[1])
	case "__delitem__":
		if err := checkArgs(cls, name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		return nil, o.iv.(ItemDeleter).DelItem(ctx, args[0])
	case "__contains__":
		if err := checkArgs(cls, name, args, kwargs, 1, 1); err != nil {
			return nil, err
		}
		return o.iv.(Container).Contains(ctx, args[0])
	case "__iter__":
		if err := checkArgs(cls, name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		seq := o.iv.(Iterable).Iter()
		if seq == nil {
			return nil, typeErrorf("'%s' object is not iterable", cls)
		}
		return newPullGenerator(seq, cls), nil
	case "__enter__":
		if err := checkArgs(cls, name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		return o.iv.(ContextManager).Enter(ctx)
	case "__exit__":
		if err := checkArgs(cls, name, args, kwargs, 0, 3); err != nil {
			return nil, err
		}
		var exc any
		if len(args) > 0 {
			exc = args[0]
		}
		return o.iv.(ContextManager).Exit(ctx, exc)
	}
	return nil, attributeError(cls, name)
}

// localDunder answers, for a Go peer that asks through CALLATTR, the
// dunders that Python proxies handle with their own handlers.
func (o *object) localDunder(ctx context.Context, name string, args codec.Tuple, kwargs []Kwarg) (any, error) {
	switch name {
	case "__str__", "__repr__", "__hash__":
		if err := checkArgs(o.ti.name, name, args, kwargs, 0, 0); err != nil {
			return nil, err
		}
		switch name {
		case "__str__":
			return o.Str(ctx)
		case "__repr__":
			return o.Repr(ctx)
		}
		return o.Hash(ctx)
	}
	if err := checkArgs(o.ti.name, name, args, kwargs, 1, 1); err != nil {
		return nil, err
	}
	return o.Cmp(ctx, args[0], name)
}

func (o *object) Str(ctx context.Context) (string, error) {
	s, ok := o.iv.(fmt.Stringer)
	if !ok {
		return o.Repr(ctx)
	}
	v, err := safely(func() (any, error) { return s.String(), nil })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (o *object) Repr(ctx context.Context) (string, error) {
	r, ok := o.iv.(PyReprer)
	if !ok {
		return fmt.Sprintf("<%s object at 0x%x>", o.ti.typeName, o.addr()), nil
	}
	v, err := safely(func() (any, error) { return r.PyRepr(), nil })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (o *object) Hash(ctx context.Context) (int64, error) {
	h, ok := o.iv.(Hasher)
	if !ok {
		return identityHash(o.addr()), nil
	}
	v, err := safely(func() (any, error) { return h.Hash(), nil })
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

func (o *object) Dir(ctx context.Context) ([]string, error) { return slices.Clone(o.ti.dir), nil }

func (o *object) Cmp(ctx context.Context, other any, op string) (any, error) {
	if op != "__eq__" && op != "__ne__" {
		return codec.NotImplemented, nil
	}
	e, ok := o.iv.(Equaler)
	if !ok {
		return eqResult(op, identical(o, o.orig, o.rv, other)), nil
	}
	if x, ok := other.(Object); ok {
		if x == Object(o) {
			return eqResult(op, true), nil
		}
		other = Unwrap(x)
	}
	v, err := safely(func() (any, error) { return e.Equal(other), nil })
	if err != nil {
		return nil, err
	}
	return eqResult(op, v.(bool)), nil
}
