package reactor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// listenSocket opens a listening socket with the standard library and the
// options of cfg (reuse flags, backlog, keep-alive).
func listenSocket(network, addr string, cfg *Config) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{
		KeepAlive:       keepAliveFor(cfg),
		KeepAliveConfig: cfg.keepAliveConfig(),
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if cfg.ReuseAddr {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
				}
				if serr == nil && cfg.ReusePort && network != "unix" {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	if cfg.Backlog > 0 {
		if err := setBacklog(ln, cfg.Backlog); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

// keepAliveFor maps Config.KeepAlive to the standard library's convention
// (negative: off).
func keepAliveFor(cfg *Config) time.Duration {
	if cfg.KeepAlive > 0 {
		return cfg.KeepAlive
	}
	return -1
}

// setBacklog changes the backlog of a listening socket: Linux lets listen(2)
// be called again on a socket that listens.
func setBacklog(ln net.Listener, backlog int) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("reactor: backlog on %T: %w", ln, ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), backlog) }); err != nil {
		return err
	}
	return osErr("listen", lerr)
}

// dupFD duplicates the socket descriptor under a net.Conn or net.Listener
// (close-on-exec). The caller owns the copy.
func dupFD(v any) (int, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("reactor: %T has no socket descriptor: %w", v, ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, osErr("fcntl", derr)
	}
	return nfd, nil
}

// isSocketConn reports whether nc is a stream socket the reactor engines can
// take over.
func isSocketConn(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// setConnOptions applies cfg's TCP options to an accepted or adopted socket.
func setConnOptions(fd int, tcp bool, cfg *Config) error {
	if !tcp {
		return nil
	}
	nodelay := 0
	if cfg.TCPNoDelay {
		nodelay = 1
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, nodelay); err != nil {
		return osErr("setsockopt", err)
	}
	if cfg.KeepAlive > 0 {
		secs := max(1, int(cfg.KeepAlive/time.Second))
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return osErr("setsockopt", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
			return osErr("setsockopt", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs); err != nil {
			return osErr("setsockopt", err)
		}
	}
	return nil
}

// sockaddrToAddr converts a socket address of a stream socket.
func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// localAddrOf returns the bound address of a socket descriptor.
func localAddrOf(fd int) (net.Addr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, osErr("getsockname", err)
	}
	return sockaddrToAddr(sa), nil
}

// writeNonblock writes p to a non-blocking socket once, retrying only on
// EINTR. It returns how much the socket took; a full socket is not an error.
func writeNonblock(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, nil
		default:
			return 0, osErr("write", err)
		}
	}
}

func osErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(op, err)
}
