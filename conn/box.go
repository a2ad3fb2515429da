package conn

import (
	"fmt"
	"unicode/utf8"
	"weak"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// Box labels (PROTOCOL.md §6.1), named from the receiver's point of view.
const (
	labelValue     = 1
	labelTuple     = 2
	labelLocalRef  = 3 // "this object is yours"
	labelRemoteRef = 4 // "this object is mine"
)

// appendBox appends the box of v: plain values by value, tuples holding
// references as LABEL_TUPLE, this connection's proxies as LOCAL_REF, and
// everything else by reference through the local object table.
func (c *Conn) appendBox(dst []byte, v any) ([]byte, error) {
	if codec.Encodable(v) {
		dst = codec.AppendTupleHeader(dst, 2)
		dst = codec.AppendInt(dst, labelValue)
		return codec.Append(dst, v)
	}
	switch x := v.(type) {
	case codec.Tuple:
		return c.appendBoxTuple(dst, x)
	case []any:
		return c.appendBoxTuple(dst, x)
	case *netref.Proxy:
		if x.Peer() == netref.Peer(c) {
			dst = codec.AppendTupleHeader(dst, 2)
			dst = codec.AppendInt(dst, labelLocalRef)
			return appendIDPack(dst, x.ID()), nil
		}
	case releasedRef:
		dst = codec.AppendTupleHeader(dst, 2)
		dst = codec.AppendInt(dst, labelLocalRef)
		return appendIDPack(dst, x.id), nil
	case string:
		return dst, fmt.Errorf("conn: str is not valid UTF-8: %w", codec.ErrUnencodable)
	}
	id, err := c.objs.export(v)
	if err != nil {
		return dst, err
	}
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelRemoteRef)
	return appendIDPack(dst, id), nil
}

// appendBoxItems is appendBox of codec.Tuple(items), without making the
// tuple an interface value (which would allocate).
func (c *Conn) appendBoxItems(dst []byte, items []any) ([]byte, error) {
	for _, it := range items {
		if !codec.Encodable(it) {
			return c.appendBoxTuple(dst, items)
		}
	}
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelValue)
	dst = codec.AppendTupleHeader(dst, len(items))
	var err error
	for _, it := range items {
		if dst, err = codec.Append(dst, it); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendCallAttrArgs is appendBoxItems of (p, name, codec.Tuple(args),
// codec.Tuple{}), without making them interface values: a tuple box, as
// the proxy is not a plain value.
func (c *Conn) appendCallAttrArgs(dst []byte, p *netref.Proxy, name string, args []any) ([]byte, error) {
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelTuple)
	dst = codec.AppendTupleHeader(dst, 4)
	dst, err := c.appendBox(dst, p)
	if err != nil {
		return dst, err
	}
	if !utf8.ValidString(name) {
		return dst, fmt.Errorf("conn: str is not valid UTF-8: %w", codec.ErrUnencodable)
	}
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelValue)
	dst = codec.AppendStr(dst, name)
	if dst, err = c.appendBoxItems(dst, args); err != nil {
		return dst, err
	}
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelValue)
	return codec.AppendTupleHeader(dst, 0), nil
}

func (c *Conn) appendBoxTuple(dst []byte, items []any) ([]byte, error) {
	dst = codec.AppendTupleHeader(dst, 2)
	dst = codec.AppendInt(dst, labelTuple)
	dst = codec.AppendTupleHeader(dst, len(items))
	var err error
	for _, it := range items {
		if dst, err = c.appendBox(dst, it); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendIDPack(dst []byte, id netref.IDPack) []byte {
	dst = codec.AppendTupleHeader(dst, 3)
	dst = codec.AppendStr(dst, id.Name)
	dst = codec.AppendInt(dst, id.Class)
	return codec.AppendInt(dst, id.Instance)
}

// unbox turns a received box into a Go value: plain values as decoded,
// LOCAL_REF as the local value it names, REMOTE_REF as a proxy.
func (c *Conn) unbox(v any) (any, error) {
	t, ok := v.(codec.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: box is %T, not a 2-tuple", ErrProtocol, v)
	}
	label, _ := codec.ToInt64(t[0])
	switch label {
	case labelValue:
		return t[1], nil
	case labelTuple:
		items, ok := t[1].(codec.Tuple)
		if !ok {
			return nil, fmt.Errorf("%w: LABEL_TUPLE payload is %T", ErrProtocol, t[1])
		}
		// The decoded tuple is this connection's own (nothing else holds
		// it yet): its items are unboxed in place.
		for i, it := range items {
			u, err := c.unbox(it)
			if err != nil {
				return nil, err
			}
			items[i] = u
		}
		return t[1], nil
	case labelLocalRef:
		id, err := netref.ParseIDPack(t[1])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		e, ok := c.objs.lookup(id)
		if !ok {
			return nil, keyError(id)
		}
		return e.val, nil
	case labelRemoteRef:
		id, err := netref.ParseIDPack(t[1])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		return c.proxyFor(id), nil
	}
	return nil, codec.NewPyError("ValueError", fmt.Sprintf("invalid label %v", t[0]))
}

// proxyFor returns the live proxy for id, counting one more reference, or a
// new one.
func (c *Conn) proxyFor(id netref.IDPack) *netref.Proxy {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if wp, ok := c.proxies[id]; ok {
		if p := wp.Value(); p != nil && p.AddRef() {
			return p
		}
	}
	p := netref.NewProxy(c, id)
	if c.proxies == nil {
		c.proxies = make(map[netref.IDPack]weak.Pointer[netref.Proxy])
	}
	c.proxies[id] = weak.Make(p)
	return p
}

// CachedProxies is how many entries the cache of the peer's objects holds
// (for tests and statistics).
func (c *Conn) CachedProxies() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return len(c.proxies)
}

// forgetProxy drops the cache entry of id if its proxy is gone or closed
// (a closed proxy is never handed out again: keeping its entry would grow
// the cache by one entry per object ever closed).
func (c *Conn) forgetProxy(id netref.IDPack) {
	c.pmu.Lock()
	if wp, ok := c.proxies[id]; ok {
		if p := wp.Value(); p == nil || p.Released() {
			delete(c.proxies, id)
		}
	}
	c.pmu.Unlock()
}
