package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is what a target speaks.
type Kind string

// Target kinds.
const (
	KindRPyCGo Kind = "rpycgo" // cmd/rpyc-server
	KindPython Kind = "python" // Python rpyc 5.3 (bench/testdata/py_echo_server.py)
	KindRaw    Kind = "raw"    // the raw echo ceiling (rpyc-bench raw-echo)
)

// Target is a server the harness starts as a subprocess, by command line.
// Its name is "rpycgo:MODE:ENGINE" (MODE reactor, threadpool, threaded,
// process; ENGINE gnet, netpoll, stdnet), "python:threaded",
// "python:threadpool", "python:forking" or "raw:ENGINE".
type Target struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Argv is the command; the harness appends the port argument.
	Argv []string `json:"argv"`
	// Env is added to the harness's environment.
	Env []string `json:"env,omitempty"`
}

// Binaries says where the targets' programs are.
type Binaries struct {
	// RPyCServer is the rpyc-server binary.
	RPyCServer string
	// RawEcho is the command that runs the raw echo server; the harness
	// appends --engine E --port P. Usually {rpyc-bench, "raw-echo"}.
	RawEcho []string
	// RawEchoEnv is added to the raw echo server's environment.
	RawEchoEnv []string
	// Python is the interpreter with rpyc (/usr/bin/python3).
	Python string
	// PyScript is bench/testdata/py_echo_server.py.
	PyScript string
}

// PythonInterpreter is the Python that has rpyc 5.3 (Debian's python3-rpyc).
const PythonInterpreter = "/usr/bin/python3"

var (
	rpycModes   = map[string]bool{"reactor": true, "threadpool": true, "threaded": true, "process": true}
	engineNames = map[string]bool{"gnet": true, "netpoll": true, "stdnet": true}
	pyModes     = map[string]bool{"threaded": true, "threadpool": true, "forking": true}
)

// ParseTarget builds the target called name.
func ParseTarget(name string, b Binaries) (Target, error) {
	parts := strings.Split(strings.ToLower(name), ":")
	switch parts[0] {
	case string(KindRPyCGo):
		mode, engine := "reactor", "gnet"
		if len(parts) > 1 && parts[1] != "" {
			mode = parts[1]
		}
		if len(parts) > 2 && parts[2] != "" {
			engine = parts[2]
		}
		if !rpycModes[mode] || !engineNames[engine] || len(parts) > 3 {
			return Target{}, fmt.Errorf("bench: target %q: want rpycgo:reactor|threadpool|threaded|process:gnet|netpoll|stdnet", name)
		}
		return Target{Name: "rpycgo:" + mode + ":" + engine, Kind: KindRPyCGo,
			Argv: []string{b.RPyCServer, "--host", "127.0.0.1", "-m", mode, "--engine", engine, "-q"}}, nil
	case string(KindPython):
		mode := "threaded"
		if len(parts) > 1 {
			mode = parts[1]
		}
		if !pyModes[mode] || len(parts) > 2 {
			return Target{}, fmt.Errorf("bench: target %q: want python:threaded|threadpool|forking", name)
		}
		return Target{Name: "python:" + mode, Kind: KindPython, Argv: []string{b.Python, b.PyScript, mode}}, nil
	case string(KindRaw):
		engine := "gnet"
		if len(parts) > 1 {
			engine = parts[1]
		}
		if !engineNames[engine] || len(parts) > 2 {
			return Target{}, fmt.Errorf("bench: target %q: want raw:gnet|netpoll|stdnet", name)
		}
		argv := append(append([]string(nil), b.RawEcho...), "--engine", engine)
		return Target{Name: "raw:" + engine, Kind: KindRaw, Argv: argv, Env: b.RawEchoEnv}, nil
	}
	return Target{}, fmt.Errorf("bench: unknown target %q (rpycgo:MODE:ENGINE, python:MODE, raw:ENGINE)", name)
}

// compressed is t with RPyC's compression of large payloads on (the
// default of both rpyc-server and Python) or off.
func (t Target) compressed(on bool) Target {
	if on {
		return t
	}
	switch t.Kind {
	case KindRPyCGo:
		t.Argv = append(append([]string(nil), t.Argv...), "--compress=false")
	case KindPython:
		t.Env = append(append([]string(nil), t.Env...), "RPYC_BENCH_COMPRESS=0")
	}
	return t
}

// portArgs is how each kind is told to pick any free port.
func (t Target) portArgs() []string {
	switch t.Kind {
	case KindPython:
		return []string{"0"}
	case KindRaw:
		return []string{"--port", "0"}
	}
	return []string{"-p", "0"}
}

// Process is a running target.
type Process struct {
	Target Target
	Addr   string
	PID    int
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *tailBuffer
	once   sync.Once
}

// live holds every running target, so that StopAll can kill them on a
// signal.
var live sync.Map // *Process -> struct{}

// StartTimeout bounds the wait for a target to print its port.
const StartTimeout = 15 * time.Second

// Start starts t on loopback and waits until it has printed its port.
// The process runs in its own process group (a forking server's children
// are stopped with it) and is killed if the harness dies.
func Start(ctx context.Context, t Target) (*Process, error) {
	argv := append(append([]string(nil), t.Argv...), t.portArgs()...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), t.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", t.Name, err)
	}
	p := &Process{Target: t, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{}), stderr: tail}
	live.Store(p, struct{}{})
	go func() { _ = cmd.Wait(); close(p.done) }()

	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if _, err := strconv.Atoi(line); err == nil {
				portc <- line
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case port := <-portc:
		p.Addr = "127.0.0.1:" + port
		return p, nil
	case <-p.done:
		p.Stop()
		return nil, fmt.Errorf("bench: %s exited before listening: %s", t.Name, strings.TrimSpace(tail.String()))
	case <-timer.C:
		p.Stop()
		return nil, fmt.Errorf("bench: %s printed no port within %v: %s", t.Name, StartTimeout, strings.TrimSpace(tail.String()))
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
}

// Stop kills the target's process group and waits for it. It is
// idempotent.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.PID, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		_ = syscall.Kill(-p.PID, syscall.SIGKILL) // the group: forked children too
		<-p.done
		live.Delete(p)
	})
}

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stderr returns the end of what the target wrote to stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// StopAll stops every running target (for signal handlers).
func StopAll() {
	live.Range(func(k, _ any) bool {
		k.(*Process).Stop()
		return true
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// errNoTargets is returned by a plan without targets.
var errNoTargets = errors.New("bench: no targets")
