package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Payload names the shape of one benchmark call.
type Payload string

// The payload shapes.
const (
	// PayloadInt is echo(42).
	PayloadInt Payload = "int"
	// PayloadBytes100 is echo(100 bytes).
	PayloadBytes100 Payload = "bytes100"
	// PayloadBytes64K is echo(64 KiB of bytes).
	PayloadBytes64K Payload = "bytes64k"
	// PayloadCallback is call(func, 42): the server calls back into the
	// client's func before it answers (two round trips).
	PayloadCallback Payload = "callback"
	// PayloadCounter is counter.incr(1) on a Counter made once per
	// connection and held by reference.
	PayloadCounter Payload = "counter"
)

// Payloads lists every payload shape in report order.
var Payloads = []Payload{PayloadInt, PayloadBytes100, PayloadBytes64K, PayloadCallback, PayloadCounter}

// ParsePayload checks a payload name.
func ParsePayload(s string) (Payload, error) {
	for _, p := range Payloads {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("bench: unknown payload %q (have int, bytes100, bytes64k, callback, counter)", s)
}

// echoArg is the argument echo is called with for p (nil for the shapes
// that do not call echo).
func echoArg(p Payload) any {
	switch p {
	case PayloadInt:
		return int64(42)
	case PayloadBytes100:
		return noise[:100]
	case PayloadBytes64K:
		return noise
	}
	return int64(42)
}

// noise is 64 KiB of pseudo-random bytes (a fixed seed): zlib cannot shrink
// them, so the byte payloads cost what real data costs to compress.
var noise = func() []byte {
	b := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// caller makes one call of a payload shape on one connection.
type caller struct {
	p       Payload
	root    *netref.Proxy
	counter *netref.Proxy
	fn      netref.Object
	arg     any
}

// newCaller prepares the objects a payload needs on c (the root, a Counter,
// the callback).
func newCaller(ctx context.Context, c *conn.Conn, p Payload) (*caller, error) {
	root, err := c.Root(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: root: %w", err)
	}
	cl := &caller{p: p, root: root, arg: echoArg(p)}
	switch p {
	case PayloadCounter:
		cls, err := root.GetAttr(ctx, "Counter")
		if err != nil {
			return nil, fmt.Errorf("bench: root.Counter: %w", err)
		}
		cp, ok := cls.(*netref.Proxy)
		if !ok {
			return nil, fmt.Errorf("bench: root.Counter is %T", cls)
		}
		v, err := cp.Call(ctx, int64(0))
		if err != nil {
			return nil, fmt.Errorf("bench: Counter(0): %w", err)
		}
		if cl.counter, ok = v.(*netref.Proxy); !ok {
			return nil, fmt.Errorf("bench: Counter(0) is %T", v)
		}
	case PayloadCallback:
		cl.fn = netref.Wrap(func(x any) any { return x })
	}
	return cl, nil
}

// call makes one synchronous call.
func (cl *caller) call(ctx context.Context) error {
	var err error
	switch cl.p {
	case PayloadCounter:
		_, err = cl.counter.CallMethod(ctx, "incr", int64(1))
	case PayloadCallback:
		_, err = cl.root.CallMethod(ctx, "call", cl.fn, cl.arg)
	default:
		var v any
		v, err = cl.root.CallMethod(ctx, "echo", cl.arg)
		if b, ok := v.([]byte); ok {
			// Done with the reply: its memory takes the next one.
			codec.Recycle(b)
		}
	}
	return err
}

// asyncResult is what callAsync returns: something to wait on.
type asyncResult interface {
	Wait(ctx context.Context) error
}

// callAsync sends one call without waiting for its answer.
func (cl *caller) callAsync() (asyncResult, error) {
	switch cl.p {
	case PayloadCounter:
		return cl.counter.CallMethodAsync("incr", int64(1))
	case PayloadCallback:
		return cl.root.CallMethodAsync("call", cl.fn, cl.arg)
	default:
		return cl.root.CallMethodAsync("echo", cl.arg)
	}
}

// RawRequestFrame returns a whole RPyC 5.x request frame (uncompressed)
// shaped like the echo call of p: HANDLE_CALLATTR on the root with the
// payload's argument. The raw client sends it and the raw echo server
// answers with a frame of the same size.
func RawRequestFrame(p Payload, seq int64) []byte {
	var payload []byte
	payload = codec.AppendMessageHeader(payload, codec.FormatV5, codec.MsgRequest, seq)
	payload = codec.AppendTupleHeader(payload, 2)
	payload = codec.AppendInt(payload, netref.HandleCallAttr)
	payload = codec.AppendTupleHeader(payload, 4)
	// (label REMOTE_REF... the root's id pack), "echo", (arg,), ()
	payload = codec.AppendTupleHeader(payload, 2)
	payload = codec.AppendInt(payload, 3)
	payload = codec.AppendTupleHeader(payload, 3)
	payload = codec.AppendStr(payload, "BenchService")
	payload = codec.AppendInt(payload, 140000000000001)
	payload = codec.AppendInt(payload, 140000000000002)
	payload = codec.AppendStr(payload, "echo")
	payload = codec.AppendTupleHeader(payload, 1)
	payload = codec.AppendTupleHeader(payload, 2)
	payload = codec.AppendInt(payload, 0)
	switch a := echoArg(p).(type) {
	case []byte:
		payload = codec.AppendBytes(payload, a)
	case int64:
		payload = codec.AppendInt(payload, a)
	}
	payload = codec.AppendTupleHeader(payload, 0)
	frame, _ := (&codec.FrameEncoder{}).AppendFrame(nil, payload)
	return frame
}
