package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
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
	cur       *localdeploy.TemporalChild
	all       []*localdeploy.TemporalChild
	namespace string
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
	if p.cur == nil || !p.cur.Running() {
		return 0
	}
	return p.cur.Pid()
}

// Start runs a new incarnation and returns once it serves.
func (p *TemporalProcess) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.cur != nil && p.cur.Running() {
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
	cmd := exec.Command(p.exe)
	cmd.Env = append(os.Environ(), TemporalDirEnv+"="+p.dir, TemporalAddrEnv+"="+p.addr)
	// Its own process group: a Ctrl-C at the terminal reaches the command,
	// which stops its servers in order, not the server directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	name := fmt.Sprintf("Temporal incarnation %d", n)
	inc, err := localdeploy.StartTemporalChild(ctx, name, cmd, logFile, p.logPath, func() { logFile.Close() }, temporalStartTimeout)
	if err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	p.mu.Lock()
	p.cur = inc
	p.all = append(p.all, inc)
	p.mu.Unlock()
	if inc.HostPort() != p.addr {
		inc.Kill()
		return fmt.Errorf("faults: %s serves on %s, not on %s; log %s", name, inc.HostPort(), p.addr, p.logPath)
	}
	p.mu.Lock()
	p.namespace = inc.Namespace()
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
		inc.Kill()
	}
}

// Stop stops the current incarnation cleanly (its stdin closes) and waits,
// killing it past timeout.
func (p *TemporalProcess) Stop(timeout time.Duration) error {
	p.mu.Lock()
	inc := p.cur
	p.mu.Unlock()
	if inc == nil || !inc.Running() {
		return nil
	}
	if err := inc.Stop(timeout); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return nil
}

// Crashes says what went wrong with the server: an incarnation that exited
// without being killed or stopped, or a panic in its log; nil if nothing.
func (p *TemporalProcess) Crashes() []string {
	p.mu.Lock()
	all := append([]*localdeploy.TemporalChild(nil), p.all...)
	p.mu.Unlock()
	var out []string
	for _, inc := range all {
		if inc.Running() {
			continue
		}
		if err, intended := inc.Exit(); !intended {
			out = append(out, fmt.Sprintf("%s exited unexpectedly: %v (log %s)", inc.Name, err, p.logPath))
		}
	}
	if panicLine, _ := scanLog(p.logPath); panicLine != "" {
		out = append(out, fmt.Sprintf("Temporal: %s (log %s)", panicLine, p.logPath))
	}
	return out
}
