package servers

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

// matrixGroups are the conformance script's groups every cell of the
// matrix runs: echo, call, sleep concurrency, events, live objects,
// protocol, plus async and identity. The default cell runs them all.
var matrixGroups = []string{
	"TestEcho", "TestCall", "TestSleep", "TestEvents", "TestLiveObjects",
	"TestProtocol", "TestAsync", "TestIdentity",
}

type cell struct {
	name    string
	mk      func(conn.Service, ...Option) Server
	engine  string
	opts    []Option
	inProc  bool // pid() is this process
	fullRun bool
}

func matrixCells() []cell {
	var cells []cell
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		cells = append(cells,
			cell{name: "threadpool/" + e, mk: NewThreadPool, engine: e, inProc: true, fullRun: e == "gnet"},
			cell{name: "threaded/" + e, mk: NewThreaded, engine: e, inProc: true})
	}
	cells = append(cells,
		cell{name: "process/gnet", mk: NewProcessPool, engine: "gnet", opts: []Option{WithWorkers(2)}},
		cell{name: "process-per-conn/netpoll", mk: NewProcessPool, engine: "netpoll", opts: []Option{WithProcessPerConnection(true)}},
	)
	return cells
}

// TestMatrixPython runs the real Python client's conformance script
// against every mode on every engine.
func TestMatrixPython(t *testing.T) {
	requirePython(t)
	for _, c := range matrixCells() {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]Option{WithEngine(c.engine), WithLogger(testLogger(t))}, c.opts...)
			srv := start(t, c.mk(svc(), opts...))
			args := []string{portOf(t, srv)}
			pid := 0 // a worker's: pid() is checked by TestProcessPool
			if c.inProc {
				pid = os.Getpid()
			}
			args = append(args, strconv.Itoa(pid))
			if !c.fullRun {
				args = append(args, matrixGroups...)
			}
			out := runPython(t, 2*time.Minute, conformanceScript, args...)
			require.Contains(t, out, "CONFORMANCE: PASS")
		})
	}
}

// TestOneShotPython serves one Python connection; Serve returns when it
// has closed, and a second connection meanwhile is refused.
func TestOneShotPython(t *testing.T) {
	requirePython(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := NewOneShot(svc(), WithEngine(e), WithLogger(testLogger(t)))
			require.NoError(t, srv.Start())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(context.Background()) }()
			runPython(t, time.Minute, serversScript, "oneshot", "127.0.0.1", portOf(t, srv))
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after the one connection closed")
			}
			<-srv.Done()
		})
	}
}
