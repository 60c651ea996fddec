package localdeploy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Child is a worker or starter running as a process of its own, as in
// production, so that its CPU and memory are its own (the benchmark) and it
// can be killed as a host dies (the fault matrix). Its output goes to
// <logDir>/<name>.log.
type Child struct {
	Name    string
	LogPath string
	// Listen is its health endpoint.
	Listen string

	cmd    *exec.Cmd
	exited chan struct{}
	// askStop asks the process to stop (SIGTERM, unless its starter says
	// otherwise).
	askStop func()

	mu       sync.Mutex
	err      error
	intended bool // killed or stopped on purpose
}

// StartChild runs bin -config configPath with env added to this process's
// environment.
func StartChild(name, bin, configPath, listen, logDir string, env []string) (*Child, error) {
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
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := watch(name, logPath, cmd, func() { f.Close() })
	c.Listen = listen
	return c, nil
}

// watch follows a started cmd until it exits, then runs closed.
func watch(name, logPath string, cmd *exec.Cmd, closed func()) *Child {
	c := &Child{Name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	c.askStop = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
	go func() {
		err := cmd.Wait()
		closed()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.exited)
	}()
	return c
}

// WaitHealthy polls the process's /healthz until it answers 200.
func (c *Child) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return WaitReady(ctx, timeout, c.Name+" (log "+c.LogPath+")", c.exited, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Listen+"/healthz", nil)
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

// Pid is the process's id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Stats reads the process's peak RSS and CPU time while it runs.
func (c *Child) Stats() (ProcStats, error) { return ReadProcStats(c.Pid()) }

// Done is closed when the process has exited.
func (c *Child) Done() <-chan struct{} { return c.exited }

// Running reports whether the process has not exited.
func (c *Child) Running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Exit is how the process ended (nil while it runs) and whether Kill or
// Stop ended it.
func (c *Child) Exit() (err error, intended bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err, c.intended
}

// Kill is SIGKILL: no drain, no cleanup, as a host dying.
func (c *Child) Kill() {
	c.mu.Lock()
	c.intended = true
	c.mu.Unlock()
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Stop asks the process to stop (SIGTERM: the bridge's processes drain
// and exit; a Temporal child's stdin is closed) and waits at most timeout,
// then kills it. It reports a process that does not stop, exits with an
// error, or had exited on its own before.
func (c *Child) Stop(timeout time.Duration) error {
	if c.Running() {
		c.mu.Lock()
		c.intended = true
		c.mu.Unlock()
		c.askStop()
		select {
		case <-c.exited:
		case <-time.After(timeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
			return fmt.Errorf("%s did not stop within %s of being asked to; log: %s", c.Name, timeout, c.LogPath)
		}
	}
	if err, intended := c.Exit(); err != nil && !(intended && isKilled(err)) {
		return fmt.Errorf("%s exited with %v; log: %s", c.Name, err, c.LogPath)
	}
	return nil
}

// isKilled reports an exit by SIGKILL, which Kill causes.
func isKilled(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
