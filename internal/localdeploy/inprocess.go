package localdeploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// InProcess is a worker or starter run by a goroutine of this process
// through the code its main package runs (internal/bridge): the end-to-end
// tests stop and start it at will, and the demo is one process.
type InProcess struct {
	Name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// RunInProcess runs run until ctx ends or Stop.
func RunInProcess(ctx context.Context, name string, run func(context.Context) error) *InProcess {
	ctx, cancel := context.WithCancel(ctx)
	p := &InProcess{Name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = run(ctx)
		close(p.done)
	}()
	return p
}

// Exited reports whether the process returned, and what.
func (p *InProcess) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process's context, as a SIGTERM does (running activities
// drain), and waits at most timeout. It returns what the process returned,
// nil for a clean stop; calling it again is fine.
func (p *InProcess) Stop(timeout time.Duration) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(timeout):
		return fmt.Errorf("%s did not stop within %s", p.Name, timeout)
	}
	if p.err != nil && !errors.Is(p.err, context.Canceled) {
		return p.err
	}
	return nil
}
