package registry

import (
	"context"
	"errors"
	"net"
	"sync"
)

// UDPServer is the UDP registry server (rpyc's UDPRegistryServer): it
// answers each datagram of up to 1500 bytes that holds a request with one
// datagram to the sender. The IP of a registration is the datagram's source.
type UDPServer struct {
	h      *handler
	mu     sync.Mutex
	pc     *net.UDPConn
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewUDPServer returns a UDP registry server; Start binds it. It reads
// WithHost, WithPort, WithIPv6, WithPruningTimeout, WithListing,
// WithBackend, WithOnJoin, WithOnLeave and WithLogger.
func NewUDPServer(opts ...Option) *UDPServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &UDPServer{h: newHandler(buildConfig(opts)), ctx: ctx, cancel: cancel}
}

// Start binds the socket and serves it on a goroutine of its own.
func (s *UDPServer) Start() error {
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
	if s.pc != nil {
		return errors.New("registry: server already started")
	}
	network, addr, err := bindAddr(s.ctx, s.h.cfg, "udp")
	if err != nil {
		return err
	}
	la, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return err
	}
	pc, err := net.ListenUDP(network, la)
	if err != nil {
		return err
	}
	s.pc = pc
	s.done = make(chan struct{})
	go s.serve(pc)
	s.mu.Unlock()
	locked = false
	s.h.cfg.log.Info().Msgf("server started on %s", pc.LocalAddr())
	return nil
}

// Addr returns the bound address (nil before Start).
func (s *UDPServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc == nil {
		return nil
	}
	return s.pc.LocalAddr()
}

func (s *UDPServer) serve(pc *net.UDPConn) {
	defer close(s.done)
	buf := make([]byte, 64*1024)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.h.cfg.log.Warn().Err(err).Msg("read")
			continue
		}
		host := hostString(from.Addr())
		if n > MaxDatagramSize {
			s.h.cfg.log.Warn().Str("from", host).Int("len", n).Msg("ignored an oversized datagram")
			continue
		}
		reply, ok := s.h.handle(s.ctx, buf[:n], host)
		if !ok {
			continue
		}
		if _, err := pc.WriteToUDPAddrPort(reply, from); err != nil {
			s.h.cfg.log.Warn().Err(err).Str("to", from.String()).Msg("send")
		}
	}
}

// Close stops the server and returns when its goroutine has ended.
func (s *UDPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	pc, done := s.pc, s.done
	s.mu.Unlock()
	s.cancel()
	if pc == nil {
		return nil
	}
	s.h.cfg.log.Debug().Msg("stopping server...")
	err := pc.Close()
	<-done
	s.h.cfg.log.Debug().Msg("server closed")
	return err
}
