package reactor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

var (
	// ErrQueueFull is returned by Conn.Write when the connection's queued
	// bytes would pass Config.MaxQueued. Nothing was queued; the caller
	// decides whether to close the connection or to wait (WaitWritable).
	ErrQueueFull = errors.New("reactor: send queue full")

	// ErrClosed is returned by Conn methods once the connection is closing.
	// It matches net.ErrClosed with errors.Is.
	ErrClosed = fmt.Errorf("reactor: connection closed: %w", net.ErrClosed)

	// ErrEngineClosed is returned by Engine methods after Close.
	ErrEngineClosed = errors.New("reactor: engine closed")

	// ErrUnsupported is returned when an engine cannot do what is asked,
	// such as serving a crypto/tls listener on gnet. It matches
	// errors.ErrUnsupported with errors.Is.
	ErrUnsupported = fmt.Errorf("reactor: not supported by this engine: %w", errors.ErrUnsupported)

	// ErrUnknownEngine is returned by New for a name it does not know.
	ErrUnknownEngine = errors.New("reactor: unknown engine")

	// ErrInHandler is returned by Conn.WaitWritable called from the
	// connection's own handler, where waiting would stop the loop that
	// drains the queue.
	ErrInHandler = errors.New("reactor: WaitWritable called from the connection's handler")
)

// cleanCloseErr maps the errors that mean the peer closed in an orderly way
// to nil.
func cleanCloseErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// isTemporaryAccept reports accept errors worth retrying after a pause.
func isTemporaryAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}
