// Command rpyc-server serves a built-in rpycgo service to RPyC clients.
//
// This first version serves every connection on a goroutine of its own over
// the standard library (the stdnet baseline); the reactor engines and the
// other server modes arrive with the servers package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/services"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rpyc-server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rpyc-server", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "address to bind")
	port := fs.Int("port", 18861, "TCP port to listen on (0: any free port)")
	fs.IntVar(port, "p", 18861, "shorthand for --port")
	svcName := fs.String("service", "conformance", "service to serve (conformance)")
	quiet := fs.Bool("quiet", false, "log only errors")
	fs.BoolVar(quiet, "q", false, "shorthand for --quiet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := zerolog.InfoLevel
	if *quiet {
		level = zerolog.ErrorLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).
		With().Timestamp().Str("server", "rpyc-server").Logger().Level(level)

	var svc *services.Service
	switch *svcName {
	case "conformance":
		svc = services.Conformance()
	default:
		return fmt.Errorf("unknown service %q", *svcName)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	log.Info().Msgf("server started on [%s]:%d", *host, ln.Addr().(*net.TCPAddr).Port)
	// The chosen port on stdout, for scripts that start it with port 0.
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()

	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			log.Error().Err(err).Msg("accept")
			continue
		}
		go func() {
			addr := nc.RemoteAddr().String()
			log.Info().Msgf("accepted %s", addr)
			err := conn.ServeNetConn(nc, svc, conn.WithLogger(log))
			if err != nil {
				log.Warn().Err(err).Msgf("goodbye %s", addr)
				return
			}
			log.Info().Msgf("goodbye %s", addr)
		}()
	}
	log.Info().Msg("server has terminated")
	return nil
}
