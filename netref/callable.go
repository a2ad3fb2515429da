package netref

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpycgo/rpycgo/codec"
)

// Kwargs collects the keyword arguments that no named parameter took, in
// the caller's order: a Go func or method whose last non-variadic parameter
// has this type accepts **kwargs.
type Kwargs []Kwarg

// Get returns the value of the keyword argument name.
func (k Kwargs) Get(name string) (any, bool) {
	for _, kw := range k {
		if kw.Name == name {
			return kw.Value, true
		}
	}
	return nil, false
}

// sigShape is the calling convention of a Go func type, computed once per
// type: which Go parameter receives what, and how results come back.
type sigShape struct {
	recv    bool // the first Go parameter is a receiver (a method expression)
	numIn   int
	ctxIdx  int   // Go parameter index of the leading context.Context, or -1
	posIdx  []int // Go parameter index of each positional parameter
	kwIdx   int   // Go parameter index of the Kwargs parameter, or -1
	varIdx  int   // Go parameter index of the variadic slice, or -1
	varType reflect.Type
	errOut  int // result index of the trailing error, or -1
	nvals   int // number of non-error results

	frame reflect.Type // struct holding the Go parameters after the receiver
	pool  sync.Pool    // *argFrame
}

// argFrame is reusable storage for one call's arguments: in holds the
// receiver slot (if any) followed by addressable fields of s.
type argFrame struct {
	s  reflect.Value
	in []reflect.Value
}

var sigShapes sync.Map // shapeKey → *sigShape

type shapeKey struct {
	t    reflect.Type
	recv bool
}

// shapeOf returns the calling convention of func type t; recv says that its
// first parameter is a method receiver.
func shapeOf(t reflect.Type, recv bool) *sigShape {
	key := shapeKey{t, recv}
	if s, ok := sigShapes.Load(key); ok {
		return s.(*sigShape)
	}
	s := &sigShape{recv: recv, numIn: t.NumIn(), ctxIdx: -1, kwIdx: -1, varIdx: -1, errOut: -1}
	first := 0
	if recv {
		first = 1
	}
	last := t.NumIn() // exclusive end of positional parameters
	if t.IsVariadic() {
		last--
		s.varIdx = last
		s.varType = t.In(last)
	}
	if last > first && t.In(last-1) == typeKwargs {
		last--
		s.kwIdx = last
	}
	i := first
	if i < last && t.In(i) == typeContext {
		s.ctxIdx = i
		i++
	}
	for ; i < last; i++ {
		s.posIdx = append(s.posIdx, i)
	}
	n := t.NumOut()
	if n > 0 && t.Out(n-1) == typeError {
		s.errOut = n - 1
		n--
	}
	s.nvals = n

	fields := make([]reflect.StructField, 0, t.NumIn()-first)
	for j := first; j < t.NumIn(); j++ {
		fields = append(fields, reflect.StructField{Name: "A" + strconv.Itoa(j), Type: t.In(j)})
	}
	s.frame = reflect.StructOf(fields)
	s.pool.New = func() any {
		st := reflect.New(s.frame).Elem()
		f := &argFrame{s: st, in: make([]reflect.Value, s.numIn)}
		for j := first; j < s.numIn; j++ {
			f.in[j] = st.Field(j - first)
		}
		return f
	}
	v, _ := sigShapes.LoadOrStore(key, s)
	return v.(*sigShape)
}

// takesNothing reports whether the func takes no arguments from the peer.
func (s *sigShape) takesNothing() bool {
	return len(s.posIdx) == 0 && s.kwIdx < 0 && s.varIdx < 0
}

func (s *sigShape) getFrame() *argFrame { return s.pool.Get().(*argFrame) }

func (s *sigShape) putFrame(f *argFrame) {
	f.s.SetZero()
	if s.recv {
		f.in[0] = reflect.Value{}
	}
	s.pool.Put(f)
}

// callSig is one callable as the peer sees it: a shape plus the Python
// names used in messages and for keyword arguments.
type callSig struct {
	shape    *sigShape
	fn       reflect.Value // for methods: the method expression (receiver first)
	name     string        // Python name, for messages ("incr")
	names    []string      // Python names of the positional parameters (may be short)
	varName  string        // Python name of the variadic parameter, or ""
	mindex   int           // for methods: the index in the receiver's method set
	fast     fastKind      // for methods: how to call them without reflect
	direct   *directHolder // for methods of pointer receivers with a fast kind
	inline   atomic.Bool   // for methods: may run on the reading goroutine (InlineNamer)
	strikeMu sync.Mutex    // for methods: guards the two below
	strikes  int           // overruns of InlineBudget within strikeWindow
	struckAt time.Time     // when the first of them happened
}

// newCallSig describes the func fn of type t (a method expression when recv)
// with the given Python name and parameter names (positional ones, then
// optionally the variadic one).
func newCallSig(fn reflect.Value, t reflect.Type, recv bool, name string, params []string) *callSig {
	s := &callSig{shape: shapeOf(t, recv), fn: fn, name: name}
	npos := len(s.shape.posIdx)
	if len(params) > npos {
		if s.shape.varIdx >= 0 {
			s.varName = params[npos]
		}
		params = params[:npos]
	}
	s.names = params
	return s
}

// call binds the arguments, calls fn (with recv first for a method) and
// returns its results as the peer should see them. A panic in fn is
// recovered and returned as an error.
func (s *callSig) call(ctx context.Context, fn, recv reflect.Value, args codec.Tuple, kwargs []Kwarg) (res any, err error) {
	sh := s.shape
	f := sh.getFrame()
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, recoverError(r)
		}
	}()
	if perr := s.bind(ctx, f, args, kwargs); perr != nil {
		sh.putFrame(f)
		return nil, perr
	}
	if sh.recv {
		f.in[0] = recv
	}
	var out []reflect.Value
	if sh.varIdx >= 0 {
		out = fn.CallSlice(f.in)
	} else {
		out = fn.Call(f.in)
	}
	sh.putFrame(f)
	return s.results(out)
}

// field returns the storage of Go parameter i.
func (s *callSig) field(f *argFrame, i int) reflect.Value { return f.in[i] }

// bind converts args and kwargs into the frame, checking them as Python
// checks a call.
func (s *callSig) bind(ctx context.Context, f *argFrame, args codec.Tuple, kwargs []Kwarg) error {
	sh := s.shape
	npos := len(sh.posIdx)
	nargs := len(args)
	if nargs > npos && sh.varIdx < 0 {
		return s.tooMany(nargs)
	}
	if sh.ctxIdx >= 0 {
		if ctx == nil {
			ctx = context.Background()
		}
		s.field(f, sh.ctxIdx).Set(reflect.ValueOf(ctx))
	}
	for i := 0; i < nargs && i < npos; i++ {
		if err := convertInto(s.field(f, sh.posIdx[i]), args[i]); err != nil {
			return err.pyError(s.name + "() argument " + strconv.Itoa(i+1))
		}
	}
	varFilled := false
	if nargs > npos {
		extra := args[npos:]
		sl := reflect.MakeSlice(sh.varType, len(extra), len(extra))
		for i, a := range extra {
			if err := convertInto(sl.Index(i), a); err != nil {
				return err.pyError(s.name + "() argument " + strconv.Itoa(npos+i+1))
			}
		}
		s.field(f, sh.varIdx).Set(sl)
		varFilled = true
	}
	var filled uint64 // bit i: positional parameter i given by keyword
	nrest := 0
	for _, kw := range kwargs {
		j := s.paramIndex(kw.Name)
		switch {
		case j >= 0:
			if j < nargs || (j < 64 && filled&(1<<j) != 0) {
				return typeErrorf("%s() got multiple values for argument '%s'", s.name, kw.Name)
			}
			if err := convertInto(s.field(f, sh.posIdx[j]), kw.Value); err != nil {
				return err.pyError(s.name + "() argument '" + kw.Name + "'")
			}
			if j < 64 {
				filled |= 1 << j
			}
		case s.varName != "" && kw.Name == s.varName:
			if varFilled {
				return typeErrorf("%s() got multiple values for argument '%s'", s.name, kw.Name)
			}
			sl := reflect.MakeSlice(sh.varType, 1, 1)
			if err := convertInto(sl.Index(0), kw.Value); err != nil {
				return err.pyError(s.name + "() argument '" + kw.Name + "'")
			}
			s.field(f, sh.varIdx).Set(sl)
			varFilled = true
		case sh.kwIdx >= 0:
			nrest++
		default:
			return typeErrorf("%s() got an unexpected keyword argument '%s'", s.name, kw.Name)
		}
	}
	if nrest > 0 {
		rest := Kwargs(kwargs)
		if nrest < len(kwargs) {
			rest = make(Kwargs, 0, nrest)
			for _, kw := range kwargs {
				if s.paramIndex(kw.Name) < 0 && (s.varName == "" || kw.Name != s.varName) {
					rest = append(rest, kw)
				}
			}
		}
		s.field(f, sh.kwIdx).Set(reflect.ValueOf(rest))
	}
	if nargs < npos {
		var missing []string
		for j := nargs; j < npos; j++ {
			if j < 64 && filled&(1<<j) != 0 {
				continue
			}
			if j < len(s.names) && s.names[j] != "" {
				missing = append(missing, "'"+s.names[j]+"'")
			} else {
				missing = append(missing, "")
			}
		}
		if len(missing) > 0 {
			return s.missing(missing)
		}
	}
	return nil
}

func (s *callSig) paramIndex(name string) int {
	for i, n := range s.names {
		if n == name {
			return i
		}
	}
	return -1
}

// tooMany is Python's "f() takes 1 positional argument but 2 were given".
func (s *callSig) tooMany(given int) error {
	n := len(s.shape.posIdx)
	plural := "s"
	if n == 1 {
		plural = ""
	}
	verb := "were"
	if given == 1 {
		verb = "was"
	}
	return typeErrorf("%s() takes %d positional argument%s but %d %s given", s.name, n, plural, given, verb)
}

// missing is Python's "f() missing 2 required positional arguments: 'a'
// and 'b'" (names left out when unknown).
func (s *callSig) missing(names []string) error {
	plural := "s"
	if len(names) == 1 {
		plural = ""
	}
	msg := fmt.Sprintf("%s() missing %d required positional argument%s", s.name, len(names), plural)
	known := names[:0:0]
	for _, n := range names {
		if n != "" {
			known = append(known, n)
		}
	}
	if len(known) == len(names) {
		switch len(known) {
		case 1:
			msg += ": " + known[0]
		case 2:
			msg += ": " + known[0] + " and " + known[1]
		default:
			msg += ": " + strings.Join(known[:len(known)-1], ", ") + ", and " + known[len(known)-1]
		}
	}
	return typeErrorf("%s", msg)
}

// results turns a Go call's results into (value, error): no value → None,
// one value → it, several → a tuple; a trailing error is returned as is.
func (s *callSig) results(out []reflect.Value) (any, error) {
	sh := s.shape
	if sh.errOut >= 0 {
		if e := out[sh.errOut]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	switch sh.nvals {
	case 0:
		return nil, nil
	case 1:
		return resultValue(out[0]), nil
	}
	t := make(codec.Tuple, sh.nvals)
	for i := range sh.nvals {
		t[i] = resultValue(out[i])
	}
	return t, nil
}

// resultValue is the value a Go result is sent as: nil pointers, funcs,
// chans and interfaces are None; an interface is looked through; a named type of a basic kind without
// methods (type Celsius float64) is sent as its basic value; anything else
// as is (the connection sends what brine cannot carry by reference).
func resultValue(v reflect.Value) any {
	t := v.Type()
	if t.PkgPath() == "" && t.Name() != "" {
		return v.Interface() // predeclared types: int, string, error...
	}
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return resultValue(v.Elem())
	case reflect.Pointer, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		if v.IsNil() {
			return nil
		}
	}
	if t.Name() != "" && !hasExportedMethods(t) {
		switch t.Kind() {
		case reflect.Bool:
			return v.Bool()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return v.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u := v.Uint()
			if u <= 1<<63-1 {
				return int64(u)
			}
			return u
		case reflect.Float32, reflect.Float64:
			return v.Float()
		case reflect.Complex64, reflect.Complex128:
			return v.Complex()
		case reflect.String:
			return v.String()
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				return v.Bytes()
			}
		}
	}
	return v.Interface()
}

// ConvertArgs converts a call's arguments for the Go func type ft, as the
// adapters do before calling a Go func: a leading context.Context
// parameter receives ctx; positional arguments fill the parameters in
// order; extra ones go to a trailing variadic parameter (missing ones are
// allowed only there); keyword arguments go to a trailing Kwargs parameter
// (parameters have no names at run time; see ParamNamer and WrapFunc for
// named ones). Wrong counts and unexpected keywords are TypeErrors worded
// as Python words them, conversion failures name the argument. The result
// is ready for reflect.Value.Call (for a variadic ft: CallSlice).
func ConvertArgs(ctx context.Context, ft reflect.Type, args codec.Tuple, kwargs []Kwarg) ([]reflect.Value, error) {
	if ft.Kind() != reflect.Func {
		return nil, fmt.Errorf("netref: ConvertArgs: %v is not a func type", ft)
	}
	s := &callSig{shape: shapeOf(ft, false), name: "function"}
	f := &argFrame{s: reflect.New(s.shape.frame).Elem(), in: make([]reflect.Value, s.shape.numIn)}
	for i := range s.shape.numIn {
		f.in[i] = f.s.Field(i)
	}
	if err := s.bind(ctx, f, args, kwargs); err != nil {
		return nil, err
	}
	return f.in, nil
}
