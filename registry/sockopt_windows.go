//go:build windows

package registry

import "syscall"

// setBroadcast turns SO_BROADCAST on (a net.ListenConfig.Control).
func setBroadcast(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	}); err != nil {
		return err
	}
	return serr
}
