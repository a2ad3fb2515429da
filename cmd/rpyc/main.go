// Command rpyc is a command-line client for RPyC servers, Python's or
// rpycgo's: call an exposed method, ping, query a registry, drive a classic
// (rpyc_classic) server, move files.
//
//	rpyc call HOST:PORT METHOD [ARGS...]      arguments are Python literals
//	rpyc ping HOST:PORT
//	rpyc discover NAME                         ask a registry
//	rpyc list                                  names known to a registry
//	rpyc classic HOST[:PORT] --eval EXPR | --exec CODE
//	rpyc upload HOST[:PORT] LOCAL REMOTE
//	rpyc download HOST[:PORT] LOCAL REMOTE
//
// An address containing a slash is a unix socket path; --tls, --ca FILE and
// --insecure connect with TLS. Flags may follow the arguments; negative
// numbers are arguments, not flags. Exit status: 0
// success, 1 remote exception or other failure, 2 could not connect
// (refused, unreachable), 3 timeout, 64 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // remote exception, or any other failure
	exitConnect = 2 // connection refused or unreachable
	exitTimeout = 3
	exitUsage   = 64
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its usage line, its flags and what it does.
type command struct {
	usage string
	short string
	flags func(fs *pflag.FlagSet, o *options)
	run   func(ctx context.Context, a *app, args []string) error
	nargs func(n int) bool
}

// options holds every flag; each command registers those it reads.
type options struct {
	timeout   time.Duration
	traceback bool
	tls       bool
	caFile    string
	insecure  bool
	json      bool
	quiet     bool

	eval string
	exec string

	registry     string
	registryPort int
	tcp          bool
	filterHost   string
}

// app is the state of one invocation.
type app struct {
	stdout, stderr io.Writer
	opt            options
}

var commands = map[string]*command{}

var commandOrder = []string{"call", "ping", "classic", "upload", "download", "discover", "list"}

func init() {
	commands["call"] = &command{
		usage: "call [flags] HOST:PORT METHOD [ARGS...]",
		short: "call an exposed method of the server's root; ARGS are Python literals",
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.BoolVarP(&o.json, "json", "j", false, "print the result as JSON")
		},
		run:   runCall,
		nargs: func(n int) bool { return n >= 2 },
	}
	commands["ping"] = &command{
		usage: "ping [flags] HOST:PORT",
		short: "check that a server answers (HANDLE_PING)",
		run:   runPing,
		nargs: func(n int) bool { return n == 1 },
	}
	commands["classic"] = &command{
		usage: "classic [flags] HOST[:PORT] (--eval EXPR | --exec CODE)",
		short: "evaluate an expression or run statements on a classic server (port 18812 by default)",
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.StringVarP(&o.eval, "eval", "e", "", "Python expression to evaluate; its repr is printed")
			fs.StringVarP(&o.exec, "exec", "c", "", "Python statements to execute")
			fs.BoolVarP(&o.json, "json", "j", false, "print the --eval result as JSON")
		},
		run:   runClassic,
		nargs: func(n int) bool { return n == 1 },
	}
	commands["upload"] = &command{
		usage: "upload [flags] HOST[:PORT] LOCAL REMOTE",
		short: "copy a local file or directory to a classic server",
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
		},
		run:   runUpload,
		nargs: func(n int) bool { return n == 3 },
	}
	commands["download"] = &command{
		usage: "download [flags] HOST[:PORT] LOCAL REMOTE",
		short: "copy a file or directory from a classic server",
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
		},
		run:   runDownload,
		nargs: func(n int) bool { return n == 3 },
	}
	registryFlags := func(fs *pflag.FlagSet, o *options) {
		fs.StringVarP(&o.registry, "registry", "r", "", "registry host (UDP default: broadcast to 255.255.255.255; required with --tcp)")
		fs.IntVarP(&o.registryPort, "registry-port", "P", 18811, "registry port")
		fs.BoolVar(&o.tcp, "tcp", false, "use a TCP registry instead of UDP")
		fs.BoolVarP(&o.json, "json", "j", false, "print the result as JSON")
	}
	commands["discover"] = &command{
		usage: "discover [flags] NAME",
		short: "list the servers a registry knows for a service name",
		flags: registryFlags,
		run:   runDiscover,
		nargs: func(n int) bool { return n == 1 },
	}
	commands["list"] = &command{
		usage: "list [flags]",
		short: "list the service names a registry knows",
		flags: func(fs *pflag.FlagSet, o *options) {
			registryFlags(fs, o)
			fs.StringVar(&o.filterHost, "filter-host", "", "only names served from this host")
		},
		run:   runList,
		nargs: func(n int) bool { return n == 0 },
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rpyc COMMAND [flags] ARGS...")
	fmt.Fprintln(w, "\ncommands:")
	for _, name := range commandOrder {
		c := commands[name]
		fmt.Fprintf(w, "  %-10s %s\n", name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'rpyc COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 remote exception or failure, 2 cannot connect, 3 timeout, 64 usage.")
}

// usageError is a mistake on the command line (exit 64).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// negNumber matches arguments that are negative numbers, which pflag would
// take for short flags.
var negNumber = regexp.MustCompile(`^-(\d|\.\d|inf$|nan$)`)

const negMark = "\x00neg\x00"

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "rpyc: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	a := &app{stdout: stdout, stderr: stderr}
	fs := pflag.NewFlagSet("rpyc "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVarP(&a.opt.timeout, "timeout", "t", 10*time.Second, "timeout for connecting and for each request")
	fs.BoolVar(&a.opt.traceback, "traceback", false, "print the remote traceback of a remote exception")
	if name != "discover" && name != "list" {
		fs.BoolVar(&a.opt.tls, "tls", false, "connect with TLS (implied by --ca and --insecure)")
		fs.StringVar(&a.opt.caFile, "ca", "", "PEM file of the CA certificates that verify the server (default: system roots)")
		fs.BoolVar(&a.opt.insecure, "insecure", false, "do not verify the server's certificate")
	}
	if cmd.flags != nil {
		cmd.flags(fs, &a.opt)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rpyc %s\n  %s\n\nflags:\n%s", cmd.usage, cmd.short, fs.FlagUsages())
	}
	for _, s := range args[1:] {
		if s == "--" {
			break
		}
		if s == "-h" || s == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
	}
	rest := make([]string, len(args)-1)
	for i, s := range args[1:] {
		if negNumber.MatchString(s) {
			s = negMark + s
		}
		rest[i] = s
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	pos := fs.Args()
	for i, s := range pos {
		pos[i] = strings.TrimPrefix(s, negMark)
	}
	if !cmd.nargs(len(pos)) {
		fmt.Fprintf(stderr, "rpyc %s: wrong number of arguments\n", name)
		fs.Usage()
		return exitUsage
	}
	if a.opt.timeout <= 0 {
		fmt.Fprintln(stderr, "rpyc: --timeout must be positive")
		return exitUsage
	}
	err := cmd.run(ctx, a, pos)
	if err == nil {
		return exitOK
	}
	return a.report(name, err)
}
