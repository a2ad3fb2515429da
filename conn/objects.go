package conn

import (
	"io"
	"reflect"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// localEntry is one object the peer holds a reference to.
type localEntry struct {
	id    netref.IDPack
	obj   netref.Object // answers the handlers
	val   any           // what LOCAL_REF unboxes to: the original Go value
	ident identKey
	sent  int64 // times sent, minus the counts DEL released
}

type objKey struct{ class, instance int64 }

// identKey identifies a Go value by reference (pointers, maps, channels), so
// the same value sent twice has one id_pack and the peer's proxy cache hits.
type identKey struct {
	t reflect.Type
	p uintptr
}

// objectTable is the table of local objects referenced by the peer.
type objectTable struct {
	mu      sync.Mutex
	byID    map[objKey]*localEntry
	byIdent map[identKey]*localEntry
	classes map[string]int64
	next    int64
	max     int
}

func newObjectTable(max int) *objectTable {
	// The maps are made by the first export: most connections of a server
	// never export anything but their root, and idle ones should be small.
	return &objectTable{max: max}
}

func identOf(v any) (identKey, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer:
		if rv.IsNil() {
			return identKey{}, false
		}
		return identKey{rv.Type(), rv.Pointer()}, true
	}
	// Funcs share code pointers between closures and slices alias; they get
	// a fresh id each time they are sent.
	return identKey{}, false
}

// errTooManyObjects: the peer holds Config.MaxObjects objects already.
var errTooManyObjects = codec.NewPyError("MemoryError", "too many objects held by the peer on this connection")

// export registers v (once per identity) and counts one more send. It
// returns the id_pack to send.
func (t *objectTable) export(v any) (netref.IDPack, error) {
	ident, hasIdent := identOf(v)
	t.mu.Lock()
	defer t.mu.Unlock()
	if hasIdent {
		if e := t.byIdent[ident]; e != nil {
			e.sent++
			return e.id, nil
		}
	}
	if len(t.byID) >= t.max {
		return netref.IDPack{}, errTooManyObjects
	}
	obj, ok := v.(netref.Object)
	if !ok {
		obj = netref.Wrap(v)
	}
	name := obj.TypeName()
	if t.byID == nil {
		t.byID = make(map[objKey]*localEntry)
		t.byIdent = make(map[identKey]*localEntry)
		t.classes = make(map[string]int64)
	}
	cls, ok := t.classes[name]
	if !ok {
		cls = int64(len(t.classes) + 1)
		t.classes[name] = cls
	}
	t.next++
	e := &localEntry{
		id:   netref.IDPack{Name: name, Class: cls, Instance: t.next},
		obj:  obj,
		val:  v,
		sent: 1,
	}
	t.byID[objKey{cls, t.next}] = e
	if hasIdent {
		e.ident = ident
		t.byIdent[ident] = e
	}
	return e.id, nil
}

// lookup finds the entry of an id_pack the peer sent back. The whole
// id_pack must match, name_pack included, as Python keys its table on it.
func (t *objectTable) lookup(id netref.IDPack) (*localEntry, bool) {
	t.mu.Lock()
	e, ok := t.byID[objKey{id.Class, id.Instance}]
	t.mu.Unlock()
	if ok && e.id.Name != id.Name {
		return nil, false
	}
	return e, ok
}

// objectFor returns the Object that answers for a value unboxed from a
// LOCAL_REF (or any other value used as a handler's target).
func (t *objectTable) objectFor(v any) netref.Object {
	if o, ok := v.(netref.Object); ok {
		return o
	}
	if ident, ok := identOf(v); ok {
		t.mu.Lock()
		e := t.byIdent[ident]
		t.mu.Unlock()
		if e != nil {
			return e.obj
		}
	}
	return netref.Wrap(v)
}

// release subtracts count sends (HANDLE_DEL); the entry goes at zero, and
// an object that holds resources (a paused generator) is closed.
func (t *objectTable) release(id netref.IDPack, count int64) bool {
	t.mu.Lock()
	k := objKey{id.Class, id.Instance}
	e, ok := t.byID[k]
	if !ok || e.id.Name != id.Name {
		t.mu.Unlock()
		return false
	}
	if count < 1 {
		count = 1
	}
	e.sent -= count
	dropped := e.sent <= 0
	if dropped {
		delete(t.byID, k)
		if e.ident.t != nil {
			delete(t.byIdent, e.ident)
		}
	}
	t.mu.Unlock()
	if dropped {
		closeObject(e.obj)
	}
	return true
}

func closeObject(o netref.Object) {
	if c, ok := o.(io.Closer); ok {
		_ = c.Close()
	}
}

func (t *objectTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func (t *objectTable) clear() {
	t.mu.Lock()
	entries := make([]*localEntry, 0, len(t.byID))
	for _, e := range t.byID {
		entries = append(entries, e)
	}
	clear(t.byID)
	clear(t.byIdent)
	t.mu.Unlock()
	for _, e := range entries {
		closeObject(e.obj)
	}
}

// keyError is the exception for an id_pack that is not (or no longer) in the
// table, as Python words it.
func keyError(id netref.IDPack) error {
	return codec.NewPyError("KeyError", id.Tuple())
}
