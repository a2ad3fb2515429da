//go:build !unix && !windows

package registry

import (
	"errors"
	"syscall"
)

// setBroadcast reports that broadcast is not supported on this platform.
func setBroadcast(_, _ string, _ syscall.RawConn) error {
	return errors.New("registry: UDP broadcast is not supported on this platform")
}
