//go:build !linux

package servers

import (
	"context"
	"errors"
	"net"

	"github.com/rpycgo/rpycgo/conn"
)

// errNoProcessPool: process pools hand descriptors over unix sockets, which
// this platform's build does not do.
var errNoProcessPool = errors.New("servers: process pools need Linux")

// NewProcessPool is available on Linux only; elsewhere its server fails to
// start.
func NewProcessPool(svc conn.Service, opts ...Option) Server { return noProcessPool{} }

type noProcessPool struct{}

func (noProcessPool) Start() error                { return errNoProcessPool }
func (noProcessPool) Addr() net.Addr              { return nil }
func (noProcessPool) Serve(context.Context) error { return errNoProcessPool }
func (noProcessPool) Close(context.Context) error { return nil }
func (noProcessPool) Done() <-chan struct{}       { ch := make(chan struct{}); close(ch); return ch }

// WorkerPIDs returns nil on this platform.
func WorkerPIDs(Server) []int { return nil }

// RunWorkerIfChild returns at once on this platform.
func RunWorkerIfChild(func(name string) (conn.Service, error)) {}
