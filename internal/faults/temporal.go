package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment of a command that serves Temporal for the fault matrix
// (bbb-faults itself, see its main): with TemporalDirEnv set it runs a
// Temporal dev server persisted under that folder with its frontend on
// TemporalAddrEnv, writes "<host:port> <namespace>" on stdout once it
// serves, and stops when its stdin closes. This package only starts and
// kills it, so that it does not link the server itself.
const (
	TemporalDirEnv  = "BBB_FAULTS_TEMPORAL_DIR"
	TemporalAddrEnv = "BBB_FAULTS_TEMPORAL_ADDR"
)

// temporalStartTimeout bounds one start: a file-backed server reads its
// shard and namespace back, and the dev server waits for its Web UI too.
const temporalStartTimeout = 2 * time.Minute

// TemporalProcess is a Temporal server in a process of its own, on a data
// folder and frontend address that outlive its incarnations: Kill it (a
// crash), Start it again, and the bridge finds the same server, with every
// workflow, timer and task queue it had, at the same address.
type TemporalProcess struct {
	exe, dir, addr, logPath string

	mu        sync.Mutex
	cur       *temporalIncarnation
	all       []*temporalIncarnation
	namespace string
}

type temporalIncarnation struct {
	n      int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}

	mu       sync.Mutex
	err      error
	intended bool // killed or stopped on purpose
}

// NewTemporalProcess prepares a server run by exe (a command that serves
// Temporal when TemporalDirEnv is set) with its data under dir and its
// output appended to logPath; the frontend gets a free loopback port, kept
// for every incarnation. Nothing runs before Start.
func NewTemporalProcess(exe, dir, logPath string) (*TemporalProcess, error) {
	if exe == "" {
		return nil, errors.New("faults: no command to run Temporal in a process of its own (Options.TemporalCommand)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &TemporalProcess{exe: exe, dir: dir, addr: "127.0.0.1:" + port, logPath: logPath}, nil
}

// Addr is the frontend's host:port.
func (p *TemporalProcess) Addr() string { return p.addr }

// Namespace is the namespace the server serves (known after Start).
func (p *TemporalProcess) Namespace() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.namespace
}

// LogPath is where every incarnation's output goes.
func (p *TemporalProcess) LogPath() string { return p.logPath }

// Pid is the current incarnation's process, 0 if none runs.
func (p *TemporalProcess) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || !p.cur.running() {
		return 0
	}
	return p.cur.cmd.Process.Pid
}

// Start runs a new incarnation and returns once it serves.
func (p *TemporalProcess) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.cur != nil && p.cur.running() {
		p.mu.Unlock()
		return errors.New("faults: Temporal is already running")
	}
	n := len(p.all) + 1
	p.mu.Unlock()

	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "=== bbb-faults: Temporal incarnation %d starting at %s\n", n, time.Now().Format(time.RFC3339Nano))
	// The address line comes through a pipe of our own: exec's StdoutPipe
	// would be closed by Wait, which runs concurrently here.
	outR, outW, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd := exec.Command(p.exe)
	cmd.Env = append(os.Environ(), TemporalDirEnv+"="+p.dir, TemporalAddrEnv+"="+p.addr)
	cmd.Stdout, cmd.Stderr = outW, logFile
	// Its own process group: a Ctrl-C at the terminal reaches the command,
	// which stops its servers in order, not the server directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	outW.Close()
	if err != nil {
		outR.Close()
		logFile.Close()
		return fmt.Errorf("faults: start Temporal: %w", err)
	}
	inc := &temporalIncarnation{n: n, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		inc.mu.Lock()
		inc.err = err
		inc.mu.Unlock()
		close(inc.exited)
	}()
	p.mu.Lock()
	p.cur = inc
	p.all = append(p.all, inc)
	p.mu.Unlock()

	line := make(chan string, 1)
	go func() {
		defer logFile.Close()
		defer outR.Close()
		r := bufio.NewReader(outR)
		l, _ := r.ReadString('\n')
		line <- l
		// The pipe is read until the process ends: a write to a closed
		// stdout would kill it with SIGPIPE.
		_, _ = io.Copy(logFile, r)
	}()
	timer := time.NewTimer(temporalStartTimeout)
	defer timer.Stop()
	var l string
	select {
	case l = <-line:
	case <-timer.C:
	case <-ctx.Done():
	}
	addr, ns, ok := strings.Cut(strings.TrimSpace(l), " ")
	if !ok || addr != p.addr || ns == "" {
		inc.kill()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("faults: Temporal incarnation %d did not start on %s within %s (said %q); log %s",
			n, p.addr, temporalStartTimeout, strings.TrimSpace(l), p.logPath)
	}
	p.mu.Lock()
	p.namespace = ns
	p.mu.Unlock()
	return nil
}

// Kill SIGKILLs the current incarnation, as a host or a container dying:
// no shutdown of its services, its SQLite file as the last committed
// transaction left it.
func (p *TemporalProcess) Kill() {
	p.mu.Lock()
	inc := p.cur
	p.mu.Unlock()
	if inc != nil {
		inc.kill()
	}
}

// Stop stops the current incarnation cleanly (its stdin closes) and waits,
// killing it past timeout.
func (p *TemporalProcess) Stop(timeout time.Duration) error {
	p.mu.Lock()
	inc := p.cur
	p.mu.Unlock()
	if inc == nil || !inc.running() {
		return nil
	}
	inc.mu.Lock()
	inc.intended = true
	inc.mu.Unlock()
	_ = inc.stdin.Close()
	select {
	case <-inc.exited:
		return nil
	case <-time.After(timeout):
		inc.kill()
		return fmt.Errorf("faults: Temporal did not stop within %s; log %s", timeout, p.logPath)
	}
}

// Crashes says what went wrong with the server: an incarnation that exited
// without being killed or stopped, or a panic in its log; nil if nothing.
func (p *TemporalProcess) Crashes() []string {
	p.mu.Lock()
	all := append([]*temporalIncarnation(nil), p.all...)
	p.mu.Unlock()
	var out []string
	for _, inc := range all {
		if inc.running() {
			continue
		}
		inc.mu.Lock()
		err, intended := inc.err, inc.intended
		inc.mu.Unlock()
		if !intended {
			out = append(out, fmt.Sprintf("Temporal incarnation %d exited unexpectedly: %v (log %s)", inc.n, err, p.logPath))
		}
	}
	if panicLine, _ := scanLog(p.logPath); panicLine != "" {
		out = append(out, fmt.Sprintf("Temporal: %s (log %s)", panicLine, p.logPath))
	}
	return out
}

func (inc *temporalIncarnation) running() bool {
	select {
	case <-inc.exited:
		return false
	default:
		return true
	}
}

func (inc *temporalIncarnation) kill() {
	inc.mu.Lock()
	inc.intended = true
	inc.mu.Unlock()
	_ = inc.cmd.Process.Kill()
	<-inc.exited
}
