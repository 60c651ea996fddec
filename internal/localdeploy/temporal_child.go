package localdeploy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// A Temporal server in a process of its own, run by one of our commands,
// speaks a small protocol with the process that started it: once it serves
// it writes one line on stdout, "<host:port> <namespace>" and any fields of
// its own, and it stops when its stdin closes (its parent stopping it, or
// dying). The scale run uses it to measure the server apart, the fault
// matrix to kill it and start it again.

// AnnounceTemporal is the server process's side: it writes the line and
// returns when stdin closes.
func AnnounceTemporal(hostPort, namespace string, fields ...string) {
	fmt.Println(strings.Join(append([]string{hostPort, namespace}, fields...), " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TemporalChild is the parent's side: a Child whose Stop closes its stdin.
type TemporalChild struct {
	*Child
	// Fields is what the server announced: host:port, namespace, then
	// its own fields.
	Fields []string
}

// StartTemporalChild starts cmd (its Env and SysProcAttr as the caller
// wants them) with its stderr, and its stdout after the announcement, to
// log (written from two goroutines: an *os.File is safe for that), and
// returns once it has announced itself. logPath, if any, is named
// in errors; logDone, if any, runs once the process's output has all been
// written to log. A server that has not announced itself within timeout,
// or by the end of ctx, is killed.
func StartTemporalChild(ctx context.Context, name string, cmd *exec.Cmd, log io.Writer, logPath string, logDone func(), timeout time.Duration) (*TemporalChild, error) {
	if logDone == nil {
		logDone = func() {}
	}
	// The line comes through a pipe of our own: exec's StdoutPipe would be
	// closed by Wait, which runs as soon as the process is started.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, log
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	outW.Close()
	if err != nil {
		outR.Close()
		logDone()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := watch(name, logPath, cmd, func() {})
	c.askStop = func() { _ = stdin.Close() }

	line := make(chan string, 1)
	go func() {
		defer logDone()
		defer outR.Close()
		r := bufio.NewReader(outR)
		l, _ := r.ReadString('\n')
		line <- l
		// Read until the process ends: a write to a closed stdout would
		// kill it with SIGPIPE.
		_, _ = io.Copy(log, r)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var l string
	select {
	case l = <-line:
	case <-timer.C:
	case <-ctx.Done():
	case <-c.Done():
		// It died before announcing; its last line may still be on its way.
		select {
		case l = <-line:
		case <-time.After(time.Second):
		}
	}
	fields := strings.Fields(l)
	if len(fields) < 2 {
		c.Kill()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		where := ""
		if logPath != "" {
			where = "; log " + logPath
		}
		return nil, fmt.Errorf("%s did not say where it serves within %s (it said %q)%s", name, timeout, strings.TrimSpace(l), where)
	}
	return &TemporalChild{Child: c, Fields: fields}, nil
}

// HostPort is the frontend the server announced.
func (t *TemporalChild) HostPort() string { return t.Fields[0] }

// Namespace is the namespace the server announced.
func (t *TemporalChild) Namespace() string { return t.Fields[1] }
