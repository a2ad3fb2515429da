// Command rpyc-server serves a built-in rpycgo service to RPyC clients, with
// the flags of rpyc_classic:
//
//	rpyc-server [--host 127.0.0.1] [-p 18861] [--ipv6] [--socket-path PATH]
//	            [-m reactor|threadpool|threaded|process|oneshot]
//	            [--engine gnet|netpoll|stdnet] [--workers N]
//	            [--ssl-keyfile K --ssl-certfile C [--ssl-cafile CA]]
//	            [--logfile FILE] [-q] [--service conformance] [--compress=false]
//	            [--cpuprofile FILE] [--memprofile FILE]
//	            [--register [--registry-type UDP|TCP] [--registry-host H] [--registry-port P]]
//
// The default mode, reactor, is the thread-pool policy on the gnet engine.
// SIGINT and SIGTERM close the server cleanly: in-flight calls get a few
// seconds to finish. From Python:
//
//	import rpyc
//	c = rpyc.connect("127.0.0.1", 18861)
//	print(c.root.echo("hello"))
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	flag "github.com/spf13/pflag"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/registry"
	"github.com/rpycgo/rpycgo/servers"
	"github.com/rpycgo/rpycgo/services"
)

func main() {
	servers.RunWorkerIfChild(lookupService)
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rpyc-server:", err)
		os.Exit(1)
	}
}

// lookupService returns a built-in service by name (case-insensitive; the
// service's own name CONFORMANCE works too).
func lookupService(name string) (conn.Service, error) {
	switch strings.ToLower(name) {
	case "conformance", "conf":
		return services.Conformance(), nil
	}
	return nil, fmt.Errorf("unknown service %q (have: conformance)", name)
}

// options are the command's flags.
type options struct {
	host, socketPath, mode, engine, logfile, service string
	port, workers                                    int
	ipv6, quiet, compress                            bool
	keyfile, certfile, cafile                        string
	cpuprofile, memprofile                           string
	register                                         bool
	registryType, registryHost                       string
	registryPort                                     int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("rpyc-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.host, "host", servers.DefaultHost, "address to bind")
	fs.IntVarP(&o.port, "port", "p", servers.DefaultPort, "TCP port (0: any free port)")
	fs.BoolVar(&o.ipv6, "ipv6", false, "bind an IPv6 socket (::1 with the default host)")
	fs.StringVar(&o.socketPath, "socket-path", "", "serve a unix socket at this path instead of TCP")
	fs.StringVarP(&o.mode, "mode", "m", "reactor", "server mode: reactor (thread pool on gnet), threadpool, threaded, process, oneshot")
	fs.StringVar(&o.engine, "engine", "", "reactor engine: gnet, netpoll, stdnet (default gnet)")
	fs.IntVar(&o.workers, "workers", 0, "worker goroutines (threadpool: 20) or processes (process: CPUs)")
	fs.StringVar(&o.logfile, "logfile", "", "append the log to this file instead of stderr")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "log only errors")
	fs.StringVar(&o.keyfile, "ssl-keyfile", "", "TLS private key (PEM)")
	fs.StringVar(&o.certfile, "ssl-certfile", "", "TLS certificate (PEM)")
	fs.StringVar(&o.cafile, "ssl-cafile", "", "CA certificates (PEM): require and verify client certificates")
	fs.BoolVar(&o.compress, "compress", true, "zlib-compress payloads above 3000 bytes, as Python rpyc does (--compress=false: never)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile (pprof) to this file until the server stops")
	fs.StringVar(&o.memprofile, "memprofile", "", "write a heap profile (pprof) to this file when told to stop, before the connections close")
	fs.StringVar(&o.service, "service", "conformance", "service to serve: conformance")
	fs.BoolVar(&o.register, "register", false, "register with a registry server")
	fs.StringVar(&o.registryType, "registry-type", "UDP", "registry protocol: UDP or TCP")
	fs.StringVar(&o.registryHost, "registry-host", "", "registry host (UDP: 255.255.255.255, TCP: required)")
	fs.IntVar(&o.registryPort, "registry-port", registry.DefaultPort, "registry port")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if (o.keyfile == "") != (o.certfile == "") {
		return nil, errors.New("--ssl-keyfile and --ssl-certfile go together")
	}
	if o.cafile != "" && o.keyfile == "" {
		return nil, errors.New("--ssl-cafile needs --ssl-keyfile and --ssl-certfile")
	}
	o.registryType = strings.ToUpper(o.registryType)
	if o.registryType != "UDP" && o.registryType != "TCP" {
		return nil, fmt.Errorf("--registry-type %q: UDP or TCP", o.registryType)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	out := stderr
	if o.logfile != "" {
		f, err := os.OpenFile(o.logfile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	level := zerolog.InfoLevel
	if o.quiet {
		level = zerolog.ErrorLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !isTerminal(out)}).
		Level(level).With().Timestamp().Str("server", "rpyc-server").Logger()

	svc, err := lookupService(o.service)
	if err != nil {
		return err
	}
	opts := []servers.Option{
		servers.WithHost(o.host),
		servers.WithPort(o.port),
		servers.WithIPv6(o.ipv6),
		servers.WithSocketPath(o.socketPath),
		servers.WithLogger(log),
		servers.WithWorkers(o.workers),
		servers.WithReuseAddr(true),
		servers.WithServiceName(o.service),
	}
	if !o.compress {
		opts = append(opts, servers.WithProtocol(conn.WithCompress(false)))
	}
	if o.engine != "" {
		opts = append(opts, servers.WithEngine(o.engine))
	}
	if o.keyfile != "" {
		opts = append(opts, servers.WithTLS(o.certfile, o.keyfile, o.cafile))
	}
	var reg *lazyRegistrar
	if o.register {
		reg = &lazyRegistrar{o: o, log: log, aliases: aliasesOf(svc)}
		opts = append(opts, servers.WithRegistrar(reg))
	}

	var srv servers.Server
	switch strings.ToLower(o.mode) {
	case "reactor", "threadpool":
		srv = servers.NewThreadPool(svc, opts...)
	case "threaded":
		srv = servers.NewThreaded(svc, opts...)
	case "process", "forking":
		srv = servers.NewProcessPool(svc, opts...)
	case "oneshot":
		srv = servers.NewOneShot(svc, opts...)
	default:
		return fmt.Errorf("--mode %q: reactor, threadpool, threaded, process or oneshot", o.mode)
	}
	if reg != nil {
		reg.srv = srv
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Signals are caught before the port is announced.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(); err != nil {
		return err
	}
	if a, ok := srv.Addr().(*net.TCPAddr); ok {
		// The chosen port on stdout, for scripts that start it with -p 0.
		fmt.Fprintln(stdout, a.Port)
	}
	if o.memprofile != "" {
		stopped := ctx
		serveCtx, profiled := context.WithCancel(context.Background())
		defer profiled()
		go func() {
			<-stopped.Done()
			if err := writeHeapProfile(o.memprofile); err != nil {
				fmt.Fprintln(os.Stderr, "rpyc-server:", err)
			}
			profiled()
		}()
		ctx = serveCtx
	}
	return srv.Serve(ctx)
}

// writeHeapProfile writes the live heap, as of a collection now, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func aliasesOf(svc conn.Service) []string {
	if a, ok := svc.(interface{ Aliases() []string }); ok {
		return a.Aliases()
	}
	return nil
}

// lazyRegistrar builds the registry's Registrar when the server has bound
// its port (which -p 0 chooses at Start).
type lazyRegistrar struct {
	o       *options
	log     zerolog.Logger
	aliases []string
	srv     servers.Server
	r       *registry.Registrar
}

func (l *lazyRegistrar) Start() error {
	port := 0
	if a, ok := l.srv.Addr().(*net.TCPAddr); ok {
		port = a.Port
	} else {
		return errors.New("registration needs a TCP server")
	}
	ropts := []registry.Option{registry.WithPort(l.o.registryPort), registry.WithLogger(l.log)}
	var client registry.Client
	if l.o.registryType == "TCP" {
		host := l.o.registryHost
		if host == "" {
			return errors.New("--registry-type TCP needs --registry-host")
		}
		client = registry.NewTCPClient(host, ropts...)
	} else {
		if l.o.registryHost != "" {
			ropts = append(ropts, registry.WithHost(l.o.registryHost))
		}
		client = registry.NewUDPClient(ropts...)
	}
	l.r = registry.NewRegistrar(client, l.aliases, port, ropts...)
	return l.r.Start()
}

func (l *lazyRegistrar) Close() error {
	if l.r == nil {
		return nil
	}
	return l.r.Close()
}

// isTerminal reports whether w is a character device (colours are for
// terminals only).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
