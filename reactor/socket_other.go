//go:build !linux

package reactor

import (
	"context"
	"fmt"
	"net"
	"time"
)

// listenSocket opens a listening socket with the standard library. Outside
// Linux only stdnet is available, and Backlog, ReuseAddr and ReusePort are
// not applied.
func listenSocket(network, addr string, cfg *Config) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if cfg.Backlog > 0 || cfg.ReusePort {
		return nil, fmt.Errorf("reactor: Backlog and ReusePort: %w", ErrUnsupported)
	}
	lc := net.ListenConfig{KeepAlive: keepAliveFor(cfg), KeepAliveConfig: cfg.keepAliveConfig()}
	return lc.Listen(context.Background(), network, addr)
}

// keepAliveFor maps Config.KeepAlive to the standard library's convention
// (negative: off).
func keepAliveFor(cfg *Config) time.Duration {
	if cfg.KeepAlive > 0 {
		return cfg.KeepAlive
	}
	return -1
}
