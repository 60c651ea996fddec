package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// service is a server process (mariadbd, a RabbitMQ node) the fault run
// owns; its output is appended to a log file so a restart keeps the first
// run's lines.
type service struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

func startService(ctx context.Context, name, logPath string, env []string, bin string, args ...string) (*service, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Its own process group: a Ctrl-C at the terminal reaches the command,
	// which stops the services in order, not the services directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("faults: start %s: %w", name, err)
	}
	s := &service{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		f.Close()
		close(s.exited)
	}()
	return s, nil
}

// stop sends SIGTERM, the server's clean shutdown, and waits; past timeout
// it kills the process group.
func (s *service) stop(timeout time.Duration) error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(timeout):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		return fmt.Errorf("faults: %s did not stop within %s; log: %s", s.name, timeout, s.logPath)
	}
}

func freePort() (string, error) {
	addr, err := localdeploy.FreeAddr()
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", errors.New("faults: no free port")
	}
	return port, nil
}
