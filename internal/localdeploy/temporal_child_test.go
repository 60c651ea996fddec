package localdeploy

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The parent's side of the Temporal-child protocol against stand-in
// servers: one that announces itself and stops when its stdin closes, one
// that never announces, one that dies first.
func TestTemporalChildAnnouncesAndStopsWhenItsStdinCloses(t *testing.T) {
	var log testenv.SyncBuffer // stdout and stderr write it at once, as they may the callers' *os.File
	served := exec.Command(script(t, `echo "127.0.0.1:7233 default 42"; echo "server log" >&2; cat >/dev/null; echo bye`))
	child, err := StartTemporalChild(context.Background(), "server", served, &log, "", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if child.HostPort() != "127.0.0.1:7233" || child.Namespace() != "default" || len(child.Fields) != 3 || child.Fields[2] != "42" {
		t.Errorf("announced %q", child.Fields)
	}
	if !child.Running() {
		t.Fatal("the server exited after announcing itself")
	}
	if err := child.Stop(5 * time.Second); err != nil {
		t.Errorf("stopping by closing stdin: %v", err)
	}
	if err, intended := child.Exit(); err != nil || !intended {
		t.Errorf("exit %v, intended %v: want a clean, intended exit", err, intended)
	}

	silent := exec.Command(script(t, `exec sleep 60`))
	began := time.Now()
	if _, err := StartTemporalChild(context.Background(), "silent", silent, &log, "/logs/silent.log", nil, 300*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "did not say where it serves") || !strings.Contains(err.Error(), "/logs/silent.log") {
		t.Errorf("a server that never announces: %v", err)
	}
	if silent.ProcessState == nil {
		t.Error("the silent server was left running")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("gave up on the silent server after %s, want about its 300ms", d)
	}

	dying := exec.Command(script(t, `echo "no database" >&2; exit 1`))
	began = time.Now()
	if _, err := StartTemporalChild(context.Background(), "dying", dying, &log, "", nil, time.Minute); err == nil {
		t.Error("a server that died before announcing: no error")
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("noticed the dead server after %s, want at once", d)
	}
	if !strings.Contains(log.String(), "server log") || !strings.Contains(log.String(), "no database") {
		t.Errorf("log %q: want the servers' stderr", log.String())
	}
}
