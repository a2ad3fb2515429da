package conn

import (
	"context"
	"errors"
	"fmt"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// handlerFunc serves one request; args are the unboxed positional
// arguments.
type handlerFunc func(c *Conn, ctx context.Context, args codec.Tuple) (any, error)

type handlerSpec struct {
	name     string
	fn       handlerFunc
	min, max int  // accepted argument counts
	inline   bool // runs on the feeding goroutine: never waits on the peer
}

// handlers is the HANDLE_* table, indexed by handler code. DEL and CLOSE are
// served before unboxing (see handleRequest).
var handlers = [...]handlerSpec{
	netref.HandlePing:          {"PING", handlePing, 1, 1, true},
	netref.HandleGetRoot:       {"GETROOT", handleGetRoot, 0, 0, true},
	netref.HandleGetAttr:       {"GETATTR", handleGetAttr, 2, 2, false},
	netref.HandleDelAttr:       {"DELATTR", handleDelAttr, 2, 2, false},
	netref.HandleSetAttr:       {"SETATTR", handleSetAttr, 3, 3, false},
	netref.HandleCall:          {"CALL", handleCall, 2, 3, false},
	netref.HandleCallAttr:      {"CALLATTR", handleCallAttr, 3, 4, false},
	netref.HandleRepr:          {"REPR", handleRepr, 1, 1, false},
	netref.HandleStr:           {"STR", handleStr, 1, 1, false},
	netref.HandleCmp:           {"CMP", handleCmp, 2, 3, false},
	netref.HandleHash:          {"HASH", handleHash, 1, 1, false},
	netref.HandleDir:           {"DIR", handleDir, 1, 1, false},
	netref.HandlePickle:        {"PICKLE", handlePickle, 2, 2, true},
	netref.HandleInspect:       {"INSPECT", handleInspect, 1, 1, true},
	netref.HandleBuffIter:      {"BUFFITER", handleBuffIter, 2, 2, false},
	netref.HandleOldSlicing:    {"OLDSLICING", handleOldSlicing, 6, 6, true},
	netref.HandleCtxExit:       {"CTXEXIT", handleCtxExit, 2, 2, false},
	netref.HandleInstanceCheck: {"INSTANCECHECK", handleInstanceCheck, 2, 2, true},
}

func lookupHandler(code int64) *handlerSpec {
	if code < 0 || code >= int64(len(handlers)) || handlers[code].fn == nil {
		return nil
	}
	return &handlers[code]
}

func handlePing(_ *Conn, _ context.Context, a codec.Tuple) (any, error) { return a[0], nil }

func handleGetRoot(c *Conn, _ context.Context, _ codec.Tuple) (any, error) { return c.root, nil }

// attrName accepts a str or UTF-8 bytes, as Python does.
func attrName(v any) (string, error) {
	switch n := v.(type) {
	case string:
		return n, nil
	case []byte:
		return string(n), nil
	}
	return "", codec.NewPyError("TypeError", fmt.Sprintf("attribute name must be string, not '%s'", netref.PyTypeName(v)))
}

func denied(name string) error {
	return codec.NewPyError("AttributeError", fmt.Sprintf("cannot access '%s'", name))
}

func handleGetAttr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	name, err := attrName(a[1])
	if err != nil {
		return nil, err
	}
	if !c.cfg.AllowGetattr {
		return nil, denied(name)
	}
	return c.objs.objectFor(a[0]).GetAttr(ctx, name)
}

func handleDelAttr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	name, err := attrName(a[1])
	if err != nil {
		return nil, err
	}
	if !c.cfg.AllowDelattr {
		return nil, denied(name)
	}
	return nil, c.objs.objectFor(a[0]).DelAttr(ctx, name)
}

func handleSetAttr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	name, err := attrName(a[1])
	if err != nil {
		return nil, err
	}
	if !c.cfg.AllowSetattr {
		return nil, denied(name)
	}
	return nil, c.objs.objectFor(a[0]).SetAttr(ctx, name, a[2])
}

// callArgs reads the (args, kwargs) pair of CALL and CALLATTR.
func callArgs(a codec.Tuple) (codec.Tuple, []netref.Kwarg, error) {
	args, ok := a[0].(codec.Tuple)
	if !ok {
		return nil, nil, codec.NewPyError("TypeError", fmt.Sprintf("argument list must be a tuple, not %s", netref.PyTypeName(a[0])))
	}
	if len(a) < 2 || a[1] == nil {
		return args, nil, nil
	}
	kt, ok := a[1].(codec.Tuple)
	if !ok {
		return nil, nil, codec.NewPyError("TypeError", "keyword arguments must be a tuple of pairs")
	}
	if len(kt) == 0 {
		return args, nil, nil
	}
	kw := make([]netref.Kwarg, len(kt))
	for i, p := range kt {
		pair, ok := p.(codec.Tuple)
		if !ok || len(pair) != 2 {
			return nil, nil, codec.NewPyError("TypeError", "keyword arguments must be a tuple of pairs")
		}
		name, ok := pair[0].(string)
		if !ok {
			return nil, nil, codec.NewPyError("TypeError", "keywords must be strings")
		}
		kw[i] = netref.Kwarg{Name: name, Value: pair[1]}
	}
	return args, kw, nil
}

func handleCall(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	args, kw, err := callArgs(a[1:])
	if err != nil {
		return nil, err
	}
	return c.objs.objectFor(a[0]).Call(ctx, args, kw)
}

func handleCallAttr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	name, err := attrName(a[1])
	if err != nil {
		return nil, err
	}
	if !c.cfg.AllowGetattr {
		return nil, denied(name)
	}
	args, kw, err := callArgs(a[2:])
	if err != nil {
		return nil, err
	}
	return c.objs.objectFor(a[0]).CallAttr(ctx, name, args, kw)
}

func handleRepr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	return c.objs.objectFor(a[0]).Repr(ctx)
}

func handleStr(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	return c.objs.objectFor(a[0]).Str(ctx)
}

func handleCmp(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	op := "__cmp__"
	if len(a) > 2 {
		s, err := attrName(a[2])
		if err != nil {
			return nil, err
		}
		op = s
	}
	return c.objs.objectFor(a[0]).Cmp(ctx, a[1], op)
}

func handleHash(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	return c.objs.objectFor(a[0]).Hash(ctx)
}

func handleDir(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	names, err := c.objs.objectFor(a[0]).Dir(ctx)
	if err != nil {
		return nil, err
	}
	out := make(codec.Tuple, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out, nil
}

func handlePickle(*Conn, context.Context, codec.Tuple) (any, error) {
	return nil, codec.NewPyError("ValueError", "pickling is disabled")
}

func handleInspect(c *Conn, _ context.Context, a codec.Tuple) (any, error) {
	id, err := netref.ParseIDPack(a[0])
	if err != nil {
		return nil, codec.NewPyError("TypeError", err.Error())
	}
	e, ok := c.objs.lookup(id)
	if !ok {
		return nil, keyError(id)
	}
	names := e.obj.Inspect()
	out := make(codec.Tuple, len(names))
	for i, n := range names {
		out[i] = codec.Tuple{n, nil}
	}
	return out, nil
}

func handleBuffIter(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	n, ok := codec.ToInt64(a[1])
	if !ok || n < 0 {
		return nil, codec.NewPyError("TypeError", "count must be a non-negative int")
	}
	obj := c.objs.objectFor(a[0])
	out := make(codec.Tuple, 0, min(n, 1024))
	for i := int64(0); i < n; i++ {
		v, err := obj.CallAttr(ctx, "__next__", nil, nil)
		if err != nil {
			if errors.Is(err, codec.ErrStopIteration) {
				break
			}
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func handleOldSlicing(*Conn, context.Context, codec.Tuple) (any, error) {
	return nil, codec.NewPyError("TypeError", "old-style slicing is not supported")
}

func handleCtxExit(c *Conn, ctx context.Context, a codec.Tuple) (any, error) {
	obj := c.objs.objectFor(a[0])
	if !hasName(obj.Inspect(), "__exit__") {
		return false, nil
	}
	return obj.CallAttr(ctx, "__exit__", codec.Tuple{a[1], nil, nil}, nil)
}

func handleInstanceCheck(c *Conn, _ context.Context, a codec.Tuple) (any, error) {
	other, err := netref.ParseIDPack(a[1])
	if err != nil {
		return false, nil
	}
	e, ok := c.objs.lookup(other)
	if !ok {
		return false, nil
	}
	return e.id.Name == c.objs.objectFor(a[0]).TypeName(), nil
}

func hasName(names []string, n string) bool {
	for _, s := range names {
		if s == n {
			return true
		}
	}
	return false
}
