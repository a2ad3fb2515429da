// Command rpyc-registry is RPyC's registry server (rpyc_registry): it
// answers discovery queries and keeps the registrations of running servers,
// over UDP (the default, for broadcasts on a local network) or TCP (to cross
// routers), byte-exact with Python rpyc's registry.
//
// Usage:
//
//	rpyc-registry [-m UDP|TCP] [-p PORT] [--host ADDR] [-t SECONDS] [-l]
//	              [-6] [-q] [-f FILE]
//
// It binds 0.0.0.0 (:: with -6) like rpyc_registry; --host narrows it.
// The bound port is printed on stdout (useful with -p 0); logs go to stderr
// or the log file, at debug level (every request, as rpyc) unless -q.
// SIGINT and SIGTERM close the server and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/registry"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "rpyc-registry:", err)
		os.Exit(2)
	}
}

type options struct {
	mode    string
	port    int
	host    string
	logfile string
	quiet   bool
	timeout int
	listing bool
	ipv6    bool
}

// flagSet declares every option under its short and long names.
func flagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rpyc-registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "m", "UDP", "")
	fs.StringVar(&o.mode, "mode", "UDP", "")
	fs.IntVar(&o.port, "p", registry.DefaultPort, "")
	fs.IntVar(&o.port, "port", registry.DefaultPort, "")
	fs.StringVar(&o.host, "host", "", "")
	fs.StringVar(&o.logfile, "f", "", "")
	fs.StringVar(&o.logfile, "logfile", "", "")
	fs.BoolVar(&o.quiet, "q", false, "")
	fs.BoolVar(&o.quiet, "quiet", false, "")
	fs.IntVar(&o.timeout, "t", int(registry.DefaultPruningTimeout/time.Second), "")
	fs.IntVar(&o.timeout, "timeout", int(registry.DefaultPruningTimeout/time.Second), "")
	fs.BoolVar(&o.listing, "l", false, "")
	fs.BoolVar(&o.listing, "listing", false, "")
	fs.BoolVar(&o.ipv6, "6", false, "")
	fs.BoolVar(&o.ipv6, "ipv6", false, "")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: rpyc-registry [options]

RPyC registry server: answers discovery queries and keeps the registrations
of running RPyC servers (Python rpyc_registry, byte-compatible).

Options:
  -m, --mode UDP|TCP      serving mode (default UDP)
  -p, --port PORT         the UDP/TCP listener port (default 18811; 0: any)
      --host ADDR         address to bind (default 0.0.0.0, or :: with -6, as rpyc)
  -t, --timeout SECONDS   pruning timeout: registrations not refreshed for this
                          long are dropped on the next query (default 240)
  -l, --listing           allow LIST (rpyc.list_services); off by default
  -6, --ipv6              use IPv6 (binds :: dual stack)
  -f, --logfile FILE      log to FILE instead of stderr
  -q, --quiet             log only errors
  -h, --help              print this help
`)
	}
	return fs
}

// parseArgs parses args. It also accepts rpyc_registry's value forms
// "-l true|false" (plumbum's VALUE:bool) and "-q VALUE" (any non-empty
// value means quiet).
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flagSet(&o, stderr)
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		prev := ""
		if i := len(args) - len(rest) - 1; i >= 0 {
			prev = strings.TrimLeft(args[i], "-")
		}
		switch prev {
		case "l", "listing":
			b, ok := parseBool(rest[0])
			if !ok {
				fs.Usage()
				return o, fmt.Errorf("--listing: %q is not a bool", rest[0])
			}
			o.listing = b
		case "q", "quiet":
			o.quiet = rest[0] != ""
		default:
			fs.Usage()
			return o, fmt.Errorf("unexpected argument %q", rest[0])
		}
		args = rest[1:]
	}
	o.mode = strings.ToUpper(o.mode)
	if o.mode != "UDP" && o.mode != "TCP" {
		return o, fmt.Errorf("--mode must be UDP or TCP, not %q", o.mode)
	}
	if o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("--port %d out of range 0..65535", o.port)
	}
	return o, nil
}

// parseBool reads a bool the way plumbum's cli does (and strconv's forms).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "yes", "y", "on":
		return true, true
	case "no", "n", "off":
		return false, true
	}
	b, err := strconv.ParseBool(s)
	return b, err == nil
}

// server is what both registry servers offer.
type server interface {
	Start() error
	Addr() net.Addr
	Close() error
}

// newLogger writes rpyc-like lines: "Nov 22 02:15:01 DEBUG REGSRV/UDP/18811: ...".
func newLogger(w io.Writer, color bool, quiet bool) zerolog.Logger {
	cw := zerolog.ConsoleWriter{
		Out:        w,
		NoColor:    !color,
		TimeFormat: time.Stamp,
		PartsOrder: []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, "logger", zerolog.MessageFieldName},
		FormatLevel: func(i any) string {
			s := strings.ToUpper(fmt.Sprint(i))
			if s == "WARN" {
				s = "WARNING"
			}
			return s
		},
		FormatPartValueByName: func(v any, name string) string {
			if name == "logger" && v != nil {
				return fmt.Sprint(v) + ":"
			}
			if v == nil {
				return ""
			}
			return fmt.Sprint(v)
		},
		FieldsExclude: []string{"logger"},
	}
	level := zerolog.DebugLevel
	if quiet {
		level = zerolog.ErrorLevel
	}
	return zerolog.New(cw).Level(level).With().Timestamp().Logger()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	logw, color := stderr, false
	if f, ok := stderr.(*os.File); ok {
		color = isTerminal(f)
	}
	if o.logfile != "" {
		f, err := os.OpenFile(o.logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logw, color = f, false
	}
	log := newLogger(logw, color, o.quiet)

	opts := []registry.Option{
		registry.WithPort(o.port),
		registry.WithIPv6(o.ipv6),
		registry.WithPruningTimeout(time.Duration(o.timeout) * time.Second),
		registry.WithListing(o.listing),
	}
	if o.host != "" {
		opts = append(opts, registry.WithHost(o.host))
	}
	// The logger is named after the bound port, as rpyc's REGSRV/UDP/18811;
	// with -p 0 that port is known only once bound, so a hook asks.
	var srv server
	named := log.Hook(zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
		e.Str("logger", fmt.Sprintf("REGSRV/%s/%d", o.mode, portOf(srv.Addr())))
	}))
	opts = append(opts, registry.WithLogger(named))
	if o.mode == "TCP" {
		srv = registry.NewTCPServer(opts...)
	} else {
		srv = registry.NewUDPServer(opts...)
	}
	if err := srv.Start(); err != nil {
		return err
	}
	bound := portOf(srv.Addr())
	fmt.Fprintln(stdout, bound)

	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sctx.Done()
	named.Warn().Msg("User interrupt!")
	return srv.Close()
}

func portOf(a net.Addr) int {
	switch x := a.(type) {
	case *net.UDPAddr:
		return x.Port
	case *net.TCPAddr:
		return x.Port
	}
	return 0
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
