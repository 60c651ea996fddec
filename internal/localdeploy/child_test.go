package localdeploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script that stands in for a worker.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proc")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Stopping a process reports what the benchmark must not miss, a process
// that died on its own, but not what the fault matrix did on purpose.
func TestChildStopReportsACrashNotAKill(t *testing.T) {
	dir := t.TempDir()
	crashed, err := StartChild("worker", script(t, "echo dying; exit 3"), "config.json", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-crashed.Done()
	if err := crashed.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("stopping a process that exited 3 on its own: %v", err)
	}
	if log, _ := os.ReadFile(crashed.LogPath); string(log) != "dying\n" {
		t.Errorf("log %q, want the process's output", log)
	}

	killed, err := StartChild("starter", script(t, "exec sleep 60"), "config.json", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	killed.Kill()
	if err := killed.Stop(time.Second); err != nil {
		t.Errorf("stopping a process killed on purpose: %v", err)
	}
	if err, intended := killed.Exit(); err == nil || !intended {
		t.Errorf("a killed process's exit: %v, intended %v", err, intended)
	}

	stubborn, err := StartChild("stubborn", script(t, "trap '' TERM; while :; do sleep 0.1; done"), "config.json", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the trap is set
	if err := stubborn.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("a process that ignores SIGTERM: %v", err)
	}
	if stubborn.Running() {
		t.Error("a process that ignored SIGTERM still runs after Stop")
	}
}
