package registry

import (
	"context"
	"fmt"
	"time"
)

// Client is what a registry client (a registrar) offers, over UDP or TCP.
// Names are case-insensitive: the registry upper-cases them.
type Client interface {
	// Discover asks which servers expose name. No answer within the
	// client's timeout is an empty result, not an error (rpyc returns ()).
	Discover(ctx context.Context, name string) ([]Endpoint, error)
	// Register announces aliases on the TCP port, sent from the local
	// address iface ("" for any). It reports whether the registry
	// acknowledged with "OK" within the timeout.
	Register(ctx context.Context, aliases []string, port int, iface string) (bool, error)
	// Unregister withdraws the registrations of this host's port. It does
	// not wait for the reply.
	Unregister(ctx context.Context, port int) error
	// List returns the registered names, all of them or those served from
	// filterHost ("" for all). It returns ErrListingDisabled when the
	// registry does not allow listing; no answer is an empty result.
	List(ctx context.Context, filterHost string) ([]string, error)
}

var (
	_ Client = (*UDPClient)(nil)
	_ Client = (*TCPClient)(nil)
)

// Discover asks the registry for the servers that expose name, as
// rpyc.discover: with a UDP broadcast client (NewUDPClient(opts...)), and an
// error wrapping ErrNotFound when none answered or none is registered.
func Discover(ctx context.Context, name string, opts ...Option) ([]Endpoint, error) {
	return DiscoverWith(ctx, NewUDPClient(opts...), name)
}

// DiscoverWith is Discover through a given client.
func DiscoverWith(ctx context.Context, c Client, name string) ([]Endpoint, error) {
	eps, err := c.Discover(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w exposing %q", ErrNotFound, name)
	}
	return eps, nil
}

// deadline is the earlier of now+timeout and ctx's deadline.
func deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// deadlineSetter is a connection whose deadline can be set.
type deadlineSetter interface{ SetDeadline(time.Time) error }

// watch makes ctx's cancellation interrupt c's blocking calls; the returned
// stop must be called before c is closed.
func watch(ctx context.Context, c deadlineSetter) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
}
