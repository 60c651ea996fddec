package faults

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one incarnation of a worker or starter process. A process killed
// on purpose (by the fault, or by its own fault hook) is not a crash; any
// other exit before the run stops it, or a panic in its log, is.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	listen  string
	exited  chan struct{}

	mu       sync.Mutex
	err      error
	intended bool // killed or stopped by the run
}

func startProc(name, bin, configPath, listen, logDir string, env []string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", configPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("faults: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, listen: listen, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// waitHealthy polls the process's /healthz until it answers 200.
func (p *proc) waitHealthy(ctx context.Context, timeout time.Duration) error {
	return waitFor(ctx, timeout, p.name+" (log "+p.logPath+")", p.exited, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.listen+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill is SIGKILL: no drain, no cleanup, as a host dying.
func (p *proc) kill() {
	p.mu.Lock()
	p.intended = true
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop is the graceful SIGTERM at the end of a run.
func (p *proc) stop(timeout time.Duration) error {
	if !p.running() {
		return nil
	}
	p.mu.Lock()
	p.intended = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM; log: %s", p.name, timeout, p.logPath)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%s exited with %v after SIGTERM; log: %s", p.name, p.err, p.logPath)
	}
	return nil
}

// crash says what went wrong with the process, "" if nothing did.
func (p *proc) crash() string {
	p.mu.Lock()
	intended, err := p.intended, p.err
	p.mu.Unlock()
	panicLine, selfKilled := scanLog(p.logPath)
	switch {
	case panicLine != "":
		return fmt.Sprintf("%s: %s (log %s)", p.name, panicLine, p.logPath)
	case !p.running() && !intended && !selfKilled:
		return fmt.Sprintf("%s exited unexpectedly: %v (log %s)", p.name, err, p.logPath)
	}
	return ""
}

// scanLog finds the first panic or fatal runtime error in a log, and
// whether the process announced its own kill.
func scanLog(path string) (panicLine string, selfKilled bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			if panicLine == "" {
				panicLine = line
			}
		}
		if strings.Contains(line, SelfKillMarker) {
			selfKilled = true
		}
	}
	return panicLine, selfKilled
}
