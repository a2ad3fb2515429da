package registry

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TCPServer is the TCP registry server (rpyc's TCPRegistryServer): for each
// connection it reads once (up to 1500 bytes, the whole request), answers
// with one write and closes. The IP of a registration is the peer's.
// Connections are served concurrently; each waits at most 3 s for its
// request.
type TCPServer struct {
	h      *handler
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewTCPServer returns a TCP registry server; Start listens. It reads the
// same options as NewUDPServer.
func NewTCPServer(opts ...Option) *TCPServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &TCPServer{h: newHandler(buildConfig(opts)), conns: make(map[net.Conn]struct{}), ctx: ctx, cancel: cancel}
}

// Start listens (SO_REUSEADDR, as rpyc) and accepts on a goroutine of its
// own.
func (s *TCPServer) Start() error {
	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return errors.New("registry: server already started")
	}
	network, addr, err := bindAddr(s.ctx, s.h.cfg, "tcp")
	if err != nil {
		return err
	}
	var lc net.ListenConfig // Go sets SO_REUSEADDR on Unix listeners
	ln, err := lc.Listen(s.ctx, network, addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept(ln)
	s.mu.Unlock()
	locked = false
	s.h.cfg.log.Info().Msgf("server started on %s", ln.Addr())
	return nil
}

// Addr returns the listening address (nil before Start).
func (s *TCPServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *TCPServer) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.h.cfg.log.Warn().Err(err).Msg("accept")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *TCPServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var host string
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		host = hostString(ta.AddrPort().Addr())
	} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		host = hostString(ap.Addr())
	}
	_ = c.SetDeadline(time.Now().Add(tcpServerReadTimeout))
	buf := make([]byte, MaxDatagramSize)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		s.h.cfg.log.Warn().Str("from", host).Err(err).Msg("ignored a connection without a request")
		return
	}
	reply, ok := s.h.handle(s.ctx, buf[:n], host)
	if !ok {
		return
	}
	if _, err := c.Write(reply); err != nil {
		s.h.cfg.log.Warn().Str("to", host).Err(err).Msg("send")
	}
}

// Close stops accepting, closes the open connections and returns when every
// goroutine of the server has ended.
func (s *TCPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	var err error
	if ln != nil {
		s.h.cfg.log.Debug().Msg("stopping server...")
		err = ln.Close()
	}
	s.wg.Wait()
	if ln != nil {
		s.h.cfg.log.Debug().Msg("server closed")
	}
	return err
}
