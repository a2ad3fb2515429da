package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rpycgo/rpycgo/registry"
)

// connectByServiceDialTimeout bounds each connection attempt of
// ConnectByService (rpyc's connect uses a 3 s socket timeout).
const connectByServiceDialTimeout = 3 * time.Second

// Discover asks the registry client c which servers expose name (nil c: a
// UDP broadcast client with rpyc's defaults). It returns an error wrapping
// registry.ErrNotFound when there is none, as rpyc.discover.
func Discover(ctx context.Context, c registry.Client, name string) ([]registry.Endpoint, error) {
	if c == nil {
		c = registry.NewUDPClient()
	}
	return registry.DiscoverWith(ctx, c, name)
}

// ConnectByService discovers name through c (nil c: a UDP broadcast client)
// and dials the endpoints in the registry's order until one connects, as
// rpyc.connect_by_service. opts apply to the connection. When none
// connects the error wraps registry.ErrNotFound and every dial error.
func ConnectByService(ctx context.Context, c registry.Client, name string, opts ...Option) (*Conn, error) {
	eps, err := Discover(ctx, c, name)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ep := range eps {
		dctx, cancel := context.WithTimeout(ctx, connectByServiceDialTimeout)
		cn, err := Dial(dctx, "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), opts...)
		cancel()
		if err == nil {
			return cn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: all servers exposing %q are down: %w", registry.ErrNotFound, name, errors.Join(errs...))
}
