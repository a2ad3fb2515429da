package conn

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/netref"
)

// handlePayload is called by the frame decoder for every whole frame; the
// payload is only valid during the call.
func (c *Conn) handlePayload(payload []byte) error {
	if len(payload) == 0 {
		return nil // Python ignores empty frames
	}
	f := codec.Format(c.format.Load())
	if f == codec.FormatUnknown {
		var err error
		if f, err = codec.DetectFormat(payload); err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		c.format.Store(uint32(f))
	}
	// Decoded values outlive this call (they go to other goroutines and to
	// user code): the decoder copies what it keeps out of payload and never
	// reuses its storage (Keep). Such a decoder can therefore be shared by
	// all connections, one at a time: idle connections hold none.
	//
	// A large payload gets a decoder of its own instead: the shared chunks
	// would otherwise hold its large values (through their slice headers)
	// for as long as the chunk lives, tens of megabytes per decoder.
	var (
		msg  uint8
		seq  int64
		args any
		err  error
	)
	large := len(payload) > sharedDecoderMax
	if large || codec.IsRequest(payload, f) {
		// A request served inline is done before this call returns: its
		// values may view the payload and the decoder's memory (no copy
		// of a large str or bytes, no allocation for a small request).
		vd, _ := viewDecoders.Get().(*codec.Decoder)
		if vd == nil {
			vd = &codec.Decoder{View: true}
		}
		vd.MaxDepth = c.cfg.MaxDepth
		msg, seq, args, err = vd.DecodeMessage(payload, f)
		if err == nil && msg == codec.MsgRequest && c.attached.Load() {
			served, err := c.dispatchRequest(seq, args, queued, true)
			if served {
				viewDecoders.Put(vd)
				return err
			}
		}
		viewDecoders.Put(vd)
	}
	if large {
		// A decoder of its own, in Keep mode so that a large bytes value
		// may take recycled memory (codec.Recycle).
		d := codec.Decoder{MaxDepth: c.cfg.MaxDepth, Keep: true}
		msg, seq, args, err = d.DecodeMessage(payload, f)
	} else {
		d, _ := decoders.Get().(*codec.Decoder)
		if d == nil {
			d = &codec.Decoder{Keep: true}
		}
		d.MaxDepth = c.cfg.MaxDepth
		msg, seq, args, err = d.DecodeMessage(payload, f)
		decoders.Put(d)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	switch msg {
	case codec.MsgRequest:
		return c.handleRequest(seq, args)
	case codec.MsgReply:
		c.repliesIn++
		v, err := c.unbox(args)
		c.pending.Deliver(seq, v, err)
	case codec.MsgException:
		c.repliesIn++
		c.pending.Deliver(seq, nil, codec.LoadError(args))
	default:
		return fmt.Errorf("%w: message type %d", ErrProtocol, msg)
	}
	return nil
}

// decoders holds Keep-mode decoders, viewDecoders View-mode ones (see
// handlePayload).
var decoders, viewDecoders sync.Pool

// sharedDecoderMax is the largest payload decoded with a shared decoder: a
// value of a smaller one pins at most a few such payloads' worth of memory.
const sharedDecoderMax = 2 << 10

func (c *Conn) handleRequest(seq int64, args any) error {
	if !c.attached.Load() {
		c.attachMu.Lock()
		if !c.attached.Load() {
			c.early = append(c.early, earlyRequest{seq, args})
			c.attachMu.Unlock()
			return nil
		}
		c.attachMu.Unlock()
	}
	_, err := c.dispatchRequest(seq, args, queued, false)
	return err
}

// dispatchRequest serves a request: inline for handlers that never wait on
// the peer, on the executor otherwise. mode is how the caller may send.
//
// viewed says args view the frame and the decoder's memory, which are
// reused when the caller returns: then only a CALLATTR of a method served
// inline is served, and served is false, with nothing done, for any other
// (the caller decodes it again, copying). A boxed REMOTE_REF is never
// served viewed: its proxy would keep its id; nor are the other handlers,
// which may keep their arguments (GETATTR keeps the name it binds).
func (c *Conn) dispatchRequest(seq int64, args any, mode sendMode, viewed bool) (served bool, err error) {
	t, ok := args.(codec.Tuple)
	if !ok || len(t) != 2 {
		return true, fmt.Errorf("%w: request args are not (handler, args)", ErrProtocol)
	}
	code, ok := codec.ToInt64(t[0])
	if !ok {
		return true, fmt.Errorf("%w: handler is %T", ErrProtocol, t[0])
	}
	switch code {
	case netref.HandleClose:
		return true, errCloseRequested
	}
	if viewed && (code != netref.HandleCallAttr || !noRemoteRefs(t[1], 0)) {
		return false, nil
	}
	if code == netref.HandleDel {
		c.handleDel(seq, t[1], mode)
		return true, nil
	}
	h := lookupHandler(code)
	if h == nil {
		if viewed {
			return false, nil
		}
		c.sendException(seq, codec.NewPyError("KeyError", code), mode)
		return true, nil
	}
	v, err := c.unbox(t[1])
	if err != nil {
		c.sendException(seq, err, mode)
		return true, nil
	}
	a, ok := v.(codec.Tuple)
	if !ok {
		c.sendException(seq, codec.NewPyError("TypeError", "handler arguments must be a tuple"), mode)
		return true, nil
	}
	if len(a) < h.min || len(a) > h.max {
		c.sendException(seq, codec.NewPyError("TypeError",
			fmt.Sprintf("%s takes %d to %d arguments (%d given)", h.name, h.min, h.max, len(a))), mode)
		return true, nil
	}
	if h.inline {
		c.serve(c.ctx, seq, h, a, mode, false)
		return true, nil
	}
	if code == netref.HandleCallAttr {
		if in, name := c.inlineTarget(a); in != nil {
			c.serveInline(seq, h, a, mode, in, name)
			return true, nil
		}
	}
	if viewed {
		return false, nil
	}
	if c.inflight.Add(1) > int64(c.cfg.MaxInFlight) {
		c.inflight.Add(-1)
		c.sendException(seq, errTooManyRequests, mode)
		return true, nil
	}
	tk := getTask()
	tk.c, tk.seq, tk.h, tk.a = c, seq, h, a
	c.exec.Execute(tk.run)
	return true, nil
}

// noRemoteRefs reports whether a boxed value holds no REMOTE_REF (whose
// unboxing makes a proxy that outlives the request). Malformed boxes
// report true: unbox refuses them.
func noRemoteRefs(v any, depth int) bool {
	t, ok := v.(codec.Tuple)
	if !ok || len(t) != 2 {
		return true
	}
	label, _ := codec.ToInt64(t[0])
	switch label {
	case labelRemoteRef:
		return false
	case labelTuple:
		items, ok := t[1].(codec.Tuple)
		if !ok || depth > codec.DefaultMaxDepth {
			return !ok
		}
		for _, it := range items {
			if !noRemoteRefs(it, depth+1) {
				return false
			}
		}
	}
	return true
}

// task is one request handed to the executor. Tasks are pooled, and run is
// bound once per task, so handing a request over allocates nothing.
type task struct {
	c   *Conn
	seq int64
	h   *handlerSpec
	a   codec.Tuple
	run func()
}

var taskPool sync.Pool

func getTask() *task {
	if t, ok := taskPool.Get().(*task); ok {
		return t
	}
	t := new(task)
	t.run = t.do
	return t
}

func (t *task) do() {
	c, seq, h, a := t.c, t.seq, t.h, t.a
	t.c, t.a, t.h = nil, nil, nil
	taskPool.Put(t)
	c.serve(c.ctx, seq, h, a, direct, true)
}

// inlineTarget returns the object and method name of a CALLATTR that may
// run on the goroutine feeding the connection (netref.InlineNamer), or nil.
func (c *Conn) inlineTarget(a codec.Tuple) (netref.Inliner, string) {
	name, ok := a[1].(string)
	if !ok {
		return nil, ""
	}
	obj := c.objs.objectFor(a[0])
	in, ok := obj.(netref.Inliner)
	if !ok || !in.InlineMethod(name) {
		return nil, ""
	}
	// The handler looks the object up again: give it the one found (the
	// tuple is this request's own).
	a[0] = obj
	return in, name
}

// inlineKey marks the context of a method served inline: a sync request
// made with it fails (ErrInlineRequest) instead of blocking the loop.
type inlineKey struct{}

// ErrInlineRequest is the error of a synchronous request made from a method
// served on the goroutine that reads the connection (netref.InlineNamer):
// its reply could only be read once the method has returned.
var ErrInlineRequest = errors.New("conn: synchronous request from an inline method (netref.InlineNamer): it would block the goroutine that reads its reply")

// serveInline serves a CALLATTR of an inline method on the calling
// goroutine; a method that overruns netref.InlineBudget is served by the
// executor from then on.
func (c *Conn) serveInline(seq int64, h *handlerSpec, a codec.Tuple, mode sendMode, in netref.Inliner, name string) {
	if c.inlineCtx == nil {
		c.inlineCtx = context.WithValue(c.ctx, inlineKey{}, true)
	}
	start := time.Now()
	c.serve(c.inlineCtx, seq, h, a, mode, false)
	if d := time.Since(start); d > netref.InlineBudget {
		demoted := true
		if oc, ok := in.(netref.OverrunCounter); ok {
			demoted = oc.Overran(name)
		} else {
			in.NotInline(name)
		}
		if demoted {
			c.cfg.Logger.Warn().Uint64("conn", c.id).Str("method", name).Dur("took", d).
				Dur("budget", netref.InlineBudget).
				Msg("inline method overran its budget: it runs on the workers from now on")
		} else {
			c.cfg.Logger.Debug().Uint64("conn", c.id).Str("method", name).Dur("took", d).
				Dur("budget", netref.InlineBudget).Msg("inline method overran its budget")
		}
	}
}

// errTooManyRequests answers a request beyond Config.MaxInFlight.
var errTooManyRequests = codec.NewPyError("RuntimeError", "too many requests in flight on this connection")

// InFlight is how many of the peer's requests are being served.
func (c *Conn) InFlight() int { return int(c.inflight.Load()) }

// serve runs one handler and sends its reply; a panic becomes an exception
// reply and never reaches the executor.
//
// counted says the request was counted in flight: it is uncounted when the
// handler returns, before its reply is sent, so that a peer that has its
// answer may send its next request at once.
func (c *Conn) serve(ctx context.Context, seq int64, h *handlerSpec, a codec.Tuple, mode sendMode, counted bool) {
	var (
		res any
		err error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.cfg.Logger.Error().Uint64("conn", c.id).Str("handler", h.name).
					Interface("panic", r).Bytes("stack", debug.Stack()).Msg("handler panicked")
				err = codec.NewPyError("RuntimeError", fmt.Sprintf("panic in %s handler: %v", h.name, r))
			}
		}()
		res, err = h.fn(c, ctx, a)
	}()
	if counted {
		c.inflight.Add(-1)
	}
	if err != nil {
		if pe := (*codec.PyError)(nil); errors.As(err, &pe) && pe.Panic != nil {
			// A panic the service's adapter recovered: the peer gets the
			// RuntimeError, the log gets the panic, once, here.
			c.cfg.Logger.Error().Uint64("conn", c.id).Str("handler", h.name).
				Interface("panic", pe.Panic).Msg("service panicked")
		}
		c.sendException(seq, err, mode)
		return
	}
	c.sendReply(seq, res, mode)
}

// handleDel applies a release at once, so that it is visible to every later
// request of the peer.
func (c *Conn) handleDel(seq int64, boxed any, mode sendMode) {
	// (2, ((3, id_pack), (1, count))) or (1, (...)) when hand-made.
	var id netref.IDPack
	count := int64(1)
	bt, ok := boxed.(codec.Tuple)
	if ok && len(bt) == 2 {
		if items, ok := bt[1].(codec.Tuple); ok && len(items) >= 1 {
			if ref, ok := items[0].(codec.Tuple); ok && len(ref) == 2 {
				id, _ = netref.ParseIDPack(ref[1])
			}
			if len(items) >= 2 {
				if cb, ok := items[1].(codec.Tuple); ok && len(cb) == 2 {
					if n, ok := codec.ToInt64(cb[1]); ok {
						count = n
					}
				}
			}
		}
	}
	if count < 1 {
		// A count below one is the peer's error (it used to be taken as 1).
		c.sendException(seq, codec.NewPyError("ValueError", fmt.Sprintf("DEL count must be positive, got %d", count)), mode)
		return
	}
	if id.Name == "" && id.Class == 0 && id.Instance == 0 || !c.objs.release(id, count) {
		c.sendException(seq, keyError(id), mode)
		return
	}
	c.sendReply(seq, nil, mode)
}

func (c *Conn) vinegarOptions() codec.VinegarOptions {
	v := "5.3.0"
	if c.Format() == codec.FormatV6 {
		v = "6.0.2"
	}
	return codec.VinegarOptions{IncludeTraceback: c.cfg.IncludeTraceback, Version: v}
}

func (c *Conn) sendReply(seq int64, v any, mode sendMode) {
	err := c.send(codec.MsgReply, seq, mode, func(dst []byte) ([]byte, error) { return c.appendBox(dst, v) })
	if err != nil && !c.closed.Load() {
		c.sendException(seq, err, mode)
	}
}

func (c *Conn) sendException(seq int64, e error, mode sendMode) {
	opt := c.vinegarOptions()
	_ = c.send(codec.MsgException, seq, mode, func(dst []byte) ([]byte, error) {
		return codec.Append(dst, codec.DumpError(e, opt))
	})
}

func (c *Conn) sendRequest(seq int64, handler int, args []any, mode sendMode) error {
	return c.send(codec.MsgRequest, seq, mode, func(dst []byte) ([]byte, error) {
		dst = codec.AppendTupleHeader(dst, 2)
		dst = codec.AppendInt(dst, int64(handler))
		return c.appendBoxItems(dst, args)
	})
}

// closedErr is what a send on a closed connection returns: an error that
// is dispatch.ErrClosed, with the reason the connection closed.
func (c *Conn) closedErr() error {
	err := c.closeErrOr(ErrClosed)
	if errors.Is(err, dispatch.ErrClosed) {
		return err
	}
	return &dispatch.ClosedError{Cause: err}
}

// maxKeptWriteBuf is the largest write buffer kept between messages.
const maxKeptWriteBuf = 256 << 10

// sendMode says whether a send may wait for the transport.
type sendMode bool

const (
	// direct: the sender is a goroutine that may wait for the socket.
	direct sendMode = false
	// queued: the sender must not wait (the goroutine feeding the
	// connection, or the runtime's cleanup goroutine): the frame is queued
	// when the transport can queue (QueueingTransport).
	queued sendMode = true
)

// QueueingTransport is a Transport that can also queue a write without ever
// waiting for the socket. The connection queues the replies it sends from
// the goroutine that feeds it, so that it never stops reading because it is
// writing (two peers blocked writing to each other would deadlock).
// Transports that never block (a reactor's) need not implement it.
type QueueingTransport interface {
	Transport
	Queue(b []byte) error
}

// writeBufs recycles the buffers messages are encoded into.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes one message into a pooled buffer and hands the frame to the
// transport. body appends the message's args value. No lock is held while
// the transport writes: a sender waiting for a slow socket never holds up
// the goroutine that feeds the connection (an event loop).
func (c *Conn) send(msg uint8, seq int64, mode sendMode, body func([]byte) ([]byte, error)) error {
	if c.closed.Load() {
		return c.closedErr()
	}
	bp := writeBufs.Get().(*[]byte)
	buf, start := c.enc.Begin((*bp)[:0])
	buf = codec.AppendMessageHeader(buf, c.Format(), msg, seq)
	buf, err := body(buf)
	if err == nil {
		buf, err = c.enc.Finish(buf, start)
	}
	if err == nil {
		if qt, ok := c.t.(QueueingTransport); ok && mode == queued {
			err = qt.Queue(buf)
		} else {
			err = c.t.Write(buf)
		}
		if err != nil {
			// The transport is dead (closed under us, or the peer is gone):
			// for the caller, the connection is closed.
			if c.closed.Load() {
				err = c.closedErr()
			} else {
				err = &dispatch.ClosedError{Cause: fmt.Errorf("conn: write: %w", err)}
			}
		}
	}
	if cap(buf) <= maxKeptWriteBuf {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
	return err
}
