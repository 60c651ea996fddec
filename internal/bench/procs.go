package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcStats are what the kernel accounted to one child process.
type ProcStats struct {
	PeakRSSBytes int64         // VmHWM
	CPU          time.Duration // utime + stime
}

// buildBinaries compiles the given main packages of the module at root
// into dir and returns the binaries' paths, in order.
func buildBinaries(ctx context.Context, root, dir string, pkgs ...string) ([]string, error) {
	var out []string
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, filepath.Base(pkg))
		ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		msg, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("bench: go build %s: %v\n%s", pkg, err, msg)
		}
		out = append(out, bin)
	}
	return out, nil
}

// child is a worker or starter process of the bridge.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

func startChild(name, bin, configPath, logDir string, env []string) (*child, error) {
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
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	return c, nil
}

// waitHealthy polls the child's /healthz until it answers 200.
func (c *child) waitHealthy(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("bench: %s exited at start (%v); log: %s", c.name, c.err, c.logPath)
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s not healthy after %s; log: %s", c.name, timeout, c.logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stats reads the child's peak RSS and CPU time from /proc while it runs.
func (c *child) stats() (ProcStats, error) {
	return readProcStats(c.cmd.Process.Pid)
}

// stop sends SIGTERM (the processes drain and exit) and waits.
func (c *child) stop(timeout time.Duration) error {
	select {
	case <-c.exited:
		return c.exitErr()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.exitErr()
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("bench: %s did not stop within %s; log: %s", c.name, timeout, c.logPath)
	}
}

func (c *child) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("bench: %s: %w; log: %s", c.name, c.err, c.logPath)
	}
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func readProcStats(pid int) (ProcStats, error) {
	var st ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return st, err
				}
				st.PeakRSSBytes = kb * 1024
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name (field 2) may hold spaces; fields count from
	// after its closing parenthesis, where field 3 (state) starts.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return st, errors.New("bench: unreadable /proc stat")
	}
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return st, errors.New("bench: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return st, nil
}
