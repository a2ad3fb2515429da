package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/dispatch"
	"github.com/rpycgo/rpycgo/registry"
	"github.com/rpycgo/rpycgo/services/classic"
)

// defaultServicePort is the port of `rpyc call` and `rpyc ping` when the
// address has none (rpyc's DEFAULT_SERVER_PORT for services).
const defaultServicePort = 18861

// splitAddr turns HOST[:PORT] or a unix socket path (anything with a
// slash) into a network and an address.
func splitAddr(s string, defPort int) (network, addr string, err error) {
	if strings.Contains(s, "/") {
		return "unix", s, nil
	}
	if s == "" {
		return "", "", usagef("empty address")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port (or a bare IPv6 address).
		host, port = strings.Trim(s, "[]"), strconv.Itoa(defPort)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", "", usagef("invalid port in %q", s)
	}
	if host == "" {
		host = "localhost"
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// dial connects within the timeout; requests then time out after it too.
func (a *app) dial(ctx context.Context, target string, defPort int) (*conn.Conn, error) {
	network, addr, err := splitAddr(target, defPort)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, a.opt.timeout)
	defer cancel()
	if !a.opt.tls && a.opt.caFile == "" && !a.opt.insecure {
		c, err := conn.Dial(dctx, network, addr, conn.WithTimeout(a.opt.timeout))
		if err != nil {
			return nil, &connectError{addr: addr, err: err}
		}
		return c, nil
	}
	cfg, err := a.tlsConfig(addr, network)
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return nil, &connectError{addr: addr, err: err}
	}
	return conn.NewNetConn(nc, nil, conn.WithTimeout(a.opt.timeout))
}

// tlsConfig builds the client TLS configuration of the flags.
func (a *app) tlsConfig(addr, network string) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: a.opt.insecure} //nolint:gosec // asked for with --insecure
	if network == "tcp" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if a.opt.caFile != "" {
		pem, err := os.ReadFile(a.opt.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca %s: no PEM certificate found", a.opt.caFile)
		}
	}
	return cfg, nil
}

// connectError is a failure to establish the connection.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return fmt.Sprintf("cannot connect to %s: %v", e.addr, e.err) }
func (e *connectError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, dispatch.ErrTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// exitCode classifies err.
func exitCode(err error) int {
	var ue *usageError
	var pe *codec.PyError
	var ce *connectError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &pe):
		return exitFailure
	case isTimeout(err):
		return exitTimeout
	case errors.As(err, &ce), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return exitConnect
	}
	return exitFailure
}

// report prints err for the command and returns its exit status.
func (a *app) report(name string, err error) int {
	code := exitCode(err)
	var pe *codec.PyError
	switch {
	case errors.As(err, &pe):
		if a.opt.traceback && pe.Traceback != "" {
			fmt.Fprintln(a.stderr, strings.TrimRight(pe.Traceback, "\n"))
		}
		fmt.Fprintf(a.stderr, "rpyc %s: remote exception: %v\n", name, pe)
		if !a.opt.traceback && pe.Traceback != "" {
			fmt.Fprintln(a.stderr, "(run with --traceback for the remote traceback)")
		}
	case code == exitTimeout:
		fmt.Fprintf(a.stderr, "rpyc %s: timed out after %v: %v\n", name, a.opt.timeout, err)
	default:
		fmt.Fprintf(a.stderr, "rpyc %s: %v\n", name, err)
	}
	return code
}

// printValue prints v as its Python repr, or as JSON with --json.
func (a *app) printValue(ctx context.Context, v any) error {
	if a.opt.json {
		b, err := json.Marshal(toJSON(ctx, v))
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	fmt.Fprintln(a.stdout, pyRepr(ctx, v))
	return nil
}

func runCall(ctx context.Context, a *app, args []string) error {
	callArgs := make([]any, 0, len(args)-2)
	for _, s := range args[2:] {
		v, err := parseLiteral(s)
		if err != nil {
			return usagef("%v", err)
		}
		callArgs = append(callArgs, v)
	}
	c, err := a.dial(ctx, args[0], defaultServicePort)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Call(ctx, args[1], callArgs...)
	if err != nil {
		return err
	}
	return a.printValue(ctx, v)
}

func runPing(ctx context.Context, a *app, args []string) error {
	c, err := a.dial(ctx, args[0], defaultServicePort)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	if err := c.Ping(ctx); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "pong from %s in %v\n", args[0], time.Since(start).Round(time.Microsecond))
	return nil
}

func (a *app) classic(ctx context.Context, target string) (*classic.Client, error) {
	c, err := a.dial(ctx, target, classic.DefaultPort)
	if err != nil {
		return nil, err
	}
	return classic.New(ctx, c)
}

func runClassic(ctx context.Context, a *app, args []string) error {
	if (a.opt.eval == "") == (a.opt.exec == "") {
		return usagef("give exactly one of --eval EXPR and --exec CODE")
	}
	cl, err := a.classic(ctx, args[0])
	if err != nil {
		return err
	}
	defer cl.Close()
	// The remote print()s of the code show up here.
	restore, err := cl.RedirectStdio(ctx, a.stdout, a.stderr)
	if err != nil {
		return err
	}
	var v any
	if a.opt.exec != "" {
		err = cl.Execute(ctx, a.opt.exec)
	} else {
		v, err = cl.Eval(ctx, a.opt.eval)
	}
	if rerr := restore(); err == nil && rerr != nil {
		return rerr
	}
	if err != nil || a.opt.exec != "" {
		return err
	}
	return a.printValue(ctx, v)
}

func runUpload(ctx context.Context, a *app, args []string) error {
	return a.transfer(ctx, args[0], "upload "+args[1], func(cl *classic.Client, opts ...classic.TransferOption) error {
		return cl.Upload(ctx, args[1], args[2], opts...)
	})
}

func runDownload(ctx context.Context, a *app, args []string) error {
	// HOST LOCAL REMOTE, like upload: the local path first.
	return a.transfer(ctx, args[0], "download "+args[2], func(cl *classic.Client, opts ...classic.TransferOption) error {
		return cl.Download(ctx, args[2], args[1], opts...)
	})
}

func (a *app) transfer(ctx context.Context, target, label string, do func(*classic.Client, ...classic.TransferOption) error) error {
	cl, err := a.classic(ctx, target)
	if err != nil {
		return err
	}
	defer cl.Close()
	var opts []classic.TransferOption
	if !a.opt.quiet {
		bar := newProgressBar(a.stderr, label)
		defer bar.Finish()
		opts = append(opts, classic.WithProgress(bar.Update))
	}
	return do(cl, opts...)
}

// registryClient builds the registry client of the flags.
func (a *app) registryClient() (registry.Client, error) {
	opts := []registry.Option{registry.WithPort(a.opt.registryPort), registry.WithTimeout(a.opt.timeout)}
	if a.opt.tcp {
		if a.opt.registry == "" {
			return nil, usagef("--tcp needs --registry HOST")
		}
		return registry.NewTCPClient(a.opt.registry, opts...), nil
	}
	if a.opt.registry != "" {
		opts = append(opts, registry.WithHost(a.opt.registry))
	}
	return registry.NewUDPClient(opts...), nil
}

func runDiscover(ctx context.Context, a *app, args []string) error {
	rc, err := a.registryClient()
	if err != nil {
		return err
	}
	eps, err := registry.DiscoverWith(ctx, rc, args[0])
	if err != nil {
		return err
	}
	if a.opt.json {
		type ep struct {
			Host string `json:"host"`
			Port int    `json:"port"`
		}
		out := make([]ep, len(eps))
		for i, e := range eps {
			out[i] = ep{e.Host, e.Port}
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	for _, e := range eps {
		fmt.Fprintln(a.stdout, e.String())
	}
	return nil
}

func runList(ctx context.Context, a *app, args []string) error {
	rc, err := a.registryClient()
	if err != nil {
		return err
	}
	names, err := rc.List(ctx, a.opt.filterHost)
	if err != nil {
		return err
	}
	if a.opt.json {
		if names == nil {
			names = []string{}
		}
		b, _ := json.Marshal(names)
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	for _, n := range names {
		fmt.Fprintln(a.stdout, n)
	}
	return nil
}
