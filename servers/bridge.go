package servers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/reactor"
)

// errRefused closes connections a server does not take.
var errRefused = errors.New("servers: connection refused")

// session is one served connection: the reactor's connection and the
// protocol's.
type session struct {
	s  *reactorServer
	rc reactor.Conn
	// c is nil until the peer speaks, for a lazy service; set on the
	// engine's goroutine, read anywhere.
	c  atomic.Pointer[conn.Conn]
	id uint64 // the connection's ID (conn.Conn.ID)
	// running counts the connection's requests being run by the policy.
	running atomic.Int32
	// lastActive is when a whole frame last arrived or a request last
	// ended (unix nanoseconds), kept only with an idle timeout.
	lastActive atomic.Int64
	// frames follows the frame boundaries of the incoming bytes (only with
	// an idle timeout), so that a peer dripping a frame byte by byte is not
	// active: only whole frames are.
	frames frameScan
}

// remote is the peer's address, for the log. It is not kept: an idle
// connection pays for every byte the session holds.
func (se *session) remote() string { return addrString(se.rc.RemoteAddr()) }

// frameScan follows the boundaries of RPyC frames (length uint32 BE | flag
// | body | trailer byte) in a byte stream without keeping any of it.
type frameScan struct {
	hdr  [4]byte
	nhdr int    // header bytes seen of the next frame (0 to 4 + flag)
	rest uint64 // body and trailer bytes left of the current frame
}

// feed consumes p and reports whether it completed at least one frame.
func (f *frameScan) feed(p []byte) (whole bool) {
	for len(p) > 0 {
		if f.rest > 0 {
			n := min(uint64(len(p)), f.rest)
			f.rest -= n
			p = p[n:]
			whole = whole || f.rest == 0
			continue
		}
		if f.nhdr < len(f.hdr) {
			f.hdr[f.nhdr] = p[0]
		}
		f.nhdr++
		p = p[1:]
		if f.nhdr == len(f.hdr)+1 { // the flag byte ends the header
			f.rest = uint64(binary.BigEndian.Uint32(f.hdr[:])) + 1
			f.nhdr = 0
		}
	}
	return whole
}

func (se *session) close() {
	if c := se.c.Load(); c != nil {
		_ = c.Close()
	} else {
		_ = se.rc.Close()
	}
}

// bridge is the reactor.Handler of a server: it runs the protocol
// (conn.Conn) over each reactor connection.
type bridge struct{ s *reactorServer }

// OnOpen implements reactor.Handler.
func (b *bridge) OnOpen(rc reactor.Conn) error {
	s := b.s
	if s.oneShot && !s.accepted.CompareAndSwap(false, true) {
		s.log.Info().Str("remote", addrString(rc.RemoteAddr())).Msg("refused: a one-shot server serves one connection")
		return errRefused
	}
	if s.cfg.maxConns > 0 && s.nconns.Load() >= int64(s.cfg.maxConns) {
		s.log.Warn().Str("remote", addrString(rc.RemoteAddr())).Int("max_conns", s.cfg.maxConns).Msg("refused: too many connections")
		return errRefused
	}
	se := &session{s: s, rc: rc}
	se.lastActive.Store(time.Now().UnixNano())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ended.add()
	s.mu.Unlock()
	s.nconns.Add(1)
	if s.kind != kindWorker { // a worker's master logs it
		if ev := s.log.Info(); ev.Enabled() {
			ev.Msgf("accepted %s", se.remote())
		}
	}

	se.id = s.assign.Swap(0)
	if se.id == 0 {
		se.id = connIDs.Add(1)
	}
	if !s.lazy {
		if err := s.attach(se); err != nil {
			s.sessionEnded(se, err)
			return err
		}
	}
	s.mu.Lock()
	s.sessions[se] = struct{}{}
	s.mu.Unlock()
	rc.SetContext(se)
	if ev := s.log.Info(); ev.Enabled() {
		ev.Uint64("conn", se.id).Msgf("welcome %s", se.remote())
	}
	return nil
}

// attach gives a session its protocol side (conn.Conn), which attaches the
// service. A lazy service's sessions get it when the peer first sends
// something (conn.LazyService): until then a silent connection costs the
// server only the reactor's connection and the session.
func (s *reactorServer) attach(se *session) error {
	opts := make([]conn.Option, 0, len(s.cfg.protocol)+3)
	opts = append(opts, s.cfg.protocol...)
	opts = append(opts,
		conn.WithExecutor(s.pol.executor(se, &s.tasks)),
		conn.WithConnID(se.id),
		conn.WithLogger(s.log))
	c, err := conn.New(&transport{se: se, log: s}, s.svc, opts...)
	if err != nil {
		s.log.Warn().Err(err).Str("remote", se.remote()).Msg("connection not served")
		return err
	}
	se.c.Store(c)
	return nil
}

// OnData implements reactor.Handler.
func (b *bridge) OnData(rc reactor.Conn, p []byte) error {
	se, _ := rc.Context().(*session)
	if se == nil {
		return errRefused
	}
	if b.s.cfg.idleTimeout > 0 && se.frames.feed(p) {
		se.lastActive.Store(time.Now().UnixNano())
	}
	c := se.c.Load()
	if c == nil {
		if err := b.s.attach(se); err != nil {
			return err
		}
		c = se.c.Load()
	}
	return c.Feed(p)
}

// OnClose implements reactor.Handler.
func (b *bridge) OnClose(rc reactor.Conn, err error) {
	se, _ := rc.Context().(*session)
	if se == nil {
		return // refused, or OnOpen failed after cleaning up
	}
	c := se.c.Load()
	if c == nil { // a lazy session that never spoke
		b.s.sessionEnded(se, err)
		return
	}
	c.FeedEOF(err)
	go func() {
		<-c.Done()
		b.s.sessionEnded(se, nil)
	}()
}

// sessionEnded forgets a connection whose protocol side has ended. err is
// why a connection without a protocol side (one that never spoke) ended.
func (s *reactorServer) sessionEnded(se *session, err error) {
	s.mu.Lock()
	delete(s.sessions, se)
	s.mu.Unlock()
	s.nconns.Add(-1)
	if c := se.c.Load(); c != nil {
		if ev := s.log.Info(); ev.Enabled() {
			if err := c.Err(); err != nil && !isCleanEnd(err) {
				ev = ev.Err(err)
			}
			ev.Uint64("conn", se.id).Msgf("goodbye %s", se.remote())
		}
	} else if se.id != 0 {
		if ev := s.log.Info(); ev.Enabled() {
			if err != nil && !isCleanEnd(err) {
				ev = ev.Err(err)
			}
			ev.Uint64("conn", se.id).Msgf("goodbye %s (it never spoke)", se.remote())
		}
	}
	if s.onEnded != nil && se.id != 0 {
		s.onEnded(se.id)
	}
	if s.oneShot {
		s.selfStopOnce.Do(func() { close(s.selfStop) })
	}
	s.ended.done()
}

// transport writes a connection's frames to its reactor connection.
type transport struct {
	se  *session
	log *reactorServer
}

var _ conn.QueueingTransport = (*transport)(nil)

// Write implements conn.Transport for the goroutines that run requests: on
// a full send queue it waits for room, up to the write timeout, then
// closes the connection of a peer that does not read.
func (t *transport) Write(b []byte) error {
	rc := t.se.rc
	err := rc.Write(b)
	if !errors.Is(err, reactor.ErrQueueFull) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.log.cfg.writeTimeout)
	defer cancel()
	for errors.Is(err, reactor.ErrQueueFull) {
		werr := rc.WaitWritable(ctx)
		if errors.Is(werr, reactor.ErrInHandler) {
			// The connection's handler runs at this moment, on the
			// engine's goroutine: not this one, since conn sends from the
			// handler through Queue, never through Write. A handler never
			// blocks: look again shortly, within the same write timeout.
			// (Falling back to Queue here closed a connection whose queue
			// was full for a moment whenever its peer's bytes arrived
			// meanwhile, without the write timeout.)
			werr = sleepCtx(ctx, time.Millisecond)
		}
		if werr != nil {
			if ctx.Err() != nil {
				t.log.log.Warn().Str("remote", t.se.remote()).Dur("waited", t.log.cfg.writeTimeout).
					Msg("peer does not read its replies: closing the connection")
				_ = rc.Close()
				return fmt.Errorf("servers: send queue full for %v: %w", t.log.cfg.writeTimeout, reactor.ErrQueueFull)
			}
			return werr // reactor.ErrClosed
		}
		err = rc.Write(b)
	}
	return err
}

// sleepCtx waits for d or ctx's end, whose error it returns.
func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Queue implements conn.QueueingTransport for the engine's goroutine: it
// never waits; a full send queue closes the connection.
func (t *transport) Queue(b []byte) error {
	err := t.se.rc.Write(b)
	if errors.Is(err, reactor.ErrQueueFull) {
		t.log.log.Warn().Str("remote", t.se.remote()).Int("queued", t.se.rc.Queued()).
			Msg("peer does not read its replies: send queue full, closing the connection")
		_ = t.se.rc.Close()
	}
	return err
}

// Close implements conn.Transport.
func (t *transport) Close() error { return t.se.rc.Close() }

// RemoteAddr is the peer's address (conn.Conn.RemoteAddr).
func (t *transport) RemoteAddr() net.Addr { return t.se.rc.RemoteAddr() }

func isCleanEnd(err error) bool {
	return errors.Is(err, conn.ErrClosed) || errors.Is(err, conn.ErrPeerClosed) ||
		errors.Is(err, net.ErrClosed) || err.Error() == "EOF"
}

func addrString(a net.Addr) string {
	if a == nil {
		return "?"
	}
	if s := a.String(); s != "" && s != "@" {
		return s
	}
	return a.Network()
}

// counter counts things in flight and lets one wait for none, with a
// context; unlike sync.WaitGroup it may be added to while waited for.
type counter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0; replaced when n leaves 0
}

func (c *counter) add() {
	c.mu.Lock()
	c.n++
	if c.n == 1 {
		c.zero = make(chan struct{})
	}
	c.mu.Unlock()
}

func (c *counter) done() {
	c.mu.Lock()
	c.n--
	if c.n == 0 && c.zero != nil {
		close(c.zero)
	}
	c.mu.Unlock()
}

// waitCh returns a channel closed when nothing is in flight at the time of
// the call or later.
func (c *counter) waitCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.zero
}

// wait waits for nothing in flight or ctx's end; it reports the former.
func (c *counter) wait(ctx context.Context) bool {
	for {
		select {
		case <-c.waitCh():
			c.mu.Lock()
			n := c.n
			c.mu.Unlock()
			if n == 0 {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}
