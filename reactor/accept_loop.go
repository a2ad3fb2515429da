package reactor

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// acceptListener accepts on a net.Listener in a goroutine of its own and
// hands each connection to start. stdnet serves every listener this way;
// gnet and netpoll serve listeners they did not open this way.
type acceptListener struct {
	st    *engineState
	log   zerolog.Logger
	ln    net.Listener
	start func(net.Conn) error
	once  sync.Once
	done  chan struct{}
}

// serveAccepting starts accepting on ln for an engine.
func serveAccepting(st *engineState, log zerolog.Logger, ln net.Listener, start func(net.Conn) error) (Listener, error) {
	l := &acceptListener{st: st, log: log, ln: ln, start: start, done: make(chan struct{})}
	if !st.trackListener(l) {
		_ = ln.Close()
		return nil, ErrEngineClosed
	}
	if !st.goTracked(l.acceptLoop) {
		st.untrackListener(l)
		_ = ln.Close()
		return nil, ErrEngineClosed
	}
	log.Debug().Stringer("addr", ln.Addr()).Msg("listening")
	return l, nil
}

// Addr implements Listener.
func (l *acceptListener) Addr() net.Addr { return l.ln.Addr() }

// Close implements Listener: accepted connections stay open.
func (l *acceptListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.st.untrackListener(l)
	})
	return err
}

func (l *acceptListener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if !isTemporaryAccept(err) {
				l.log.Error().Err(err).Stringer("addr", l.ln.Addr()).Msg("accept failed; listener stopped")
				_ = l.Close()
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept")
			t := time.NewTimer(delay)
			select {
			case <-l.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		delay = 0
		if err := l.start(nc); errors.Is(err, ErrEngineClosed) {
			return
		} else if err != nil {
			l.log.Debug().Err(err).Stringer("remote", nc.RemoteAddr()).Msg("connection not served")
		}
	}
}
