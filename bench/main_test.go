package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/rpycgo/rpycgo/servers"
	"github.com/rpycgo/rpycgo/services"
)

// serveEnv, when set in a re-executed test binary, makes it a target:
// "rpycgo" (the thread-pool server on gnet with the CONFORMANCE service) or
// "raw:ENGINE" (the raw echo server). It prints the port and serves until
// killed, as rpyc-server and rpyc-bench raw-echo do.
const serveEnv = "RPYCGO_BENCH_TEST_SERVE"

func TestMain(m *testing.M) {
	if what := os.Getenv(serveEnv); what != "" {
		if err := serveForTest(what); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveForTest(what string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	port := "0"
	if i := len(os.Args) - 1; i > 0 {
		port = os.Args[i]
	}
	if engine, ok := strings.CutPrefix(what, "raw:"); ok {
		return ServeRawEcho(ctx, engine, "127.0.0.1:"+port, os.Stdout)
	}
	srv := servers.NewThreadPool(services.Conformance(), servers.WithHost("127.0.0.1"), servers.WithPort(0))
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Println(srv.Addr().(*net.TCPAddr).Port)
	return srv.Serve(ctx)
}

// testBinaries makes this test binary the rpycgo and raw targets.
func testBinaries(t *testing.T) Binaries {
	t.Helper()
	dir := t.TempDir()
	script := dir + "/py_echo_server.py"
	if err := os.WriteFile(script, PyEchoServerScript, 0o644); err != nil {
		t.Fatal(err)
	}
	return Binaries{RawEcho: []string{os.Args[0], "-test.run=^$"}, Python: PythonInterpreter, PyScript: script}
}

// testTarget returns a target served by this test binary ("rpycgo" or
// "raw:ENGINE").
func testTarget(what string) Target {
	t := Target{Name: what, Kind: KindRaw, Argv: []string{os.Args[0], "-test.run=^$"}, Env: []string{serveEnv + "=" + what}}
	if what == "rpycgo" {
		t.Name, t.Kind = "rpycgo:reactor:gnet", KindRPyCGo
	}
	return t
}
