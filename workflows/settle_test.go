package workflows

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// The run's last TC call must be recorded in a workflow task that does not
// also end the run: otherwise a signal racing the end (TC's task-exception
// answering our reportException) makes the server refuse the task and the
// replay calls TC again. Here the last thing the workflow asks of Temporal
// after its last activity is the settle timer, and the run ends when it
// fires.
func TestRunEndsInAWorkflowTaskOfItsOwn(t *testing.T) {
	for _, c := range []struct {
		name    string
		results int
		last    string
	}{
		{"SUCCESS", signals.ResultSuccess, "ReportCompleted"},
		{"EXCEPTION", signals.ResultException, "ReportException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			type timer struct {
				d          time.Duration
				callsSoFar int
			}
			var mu sync.Mutex
			var timers []timer
			w.env.SetOnTimerScheduledListener(func(_ string, d time.Duration) {
				w.mu.Lock()
				n := len(w.calls)
				w.mu.Unlock()
				mu.Lock()
				timers = append(timers, timer{d, n})
				mu.Unlock()
			})
			w.signal(30*time.Second, signals.BuildStartedName, started(brid, 3))
			w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 3, c.results))
			w.start(0)
			w.requireDone()
			names := w.callNames()
			if len(names) == 0 || names[len(names)-1] != c.last {
				t.Fatalf("activities %v, want %s last", names, c.last)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(timers) == 0 {
				t.Fatal("no timer at all")
			}
			lastTimer := timers[len(timers)-1]
			if lastTimer.d != settleDelay || lastTimer.callsSoFar != len(names) {
				t.Errorf("last timer %s after %d activities, want the %s settle after all %d",
					lastTimer.d, lastTimer.callsSoFar, settleDelay, len(names))
			}
			if ended := w.env.Now().Sub(t0); ended != 45*time.Second+settleDelay {
				t.Errorf("run ended at %s, want %s after the finished event", ended, settleDelay)
			}
		})
	}
}

// TC answers our reportException with a task-exception message, and Pulse
// repeats a started event late: both arrive while the run settles. The
// worker's log says once, in the bridge's words, that the task ended with
// signals it did not need, instead of the SDK's "Workflow has unhandled
// signals" warning, and nothing is done about them.
func TestSignalsAfterTheEndAreLoggedOnceAsNotNeeded(t *testing.T) {
	w := newWorld(t)
	logs := &recordingLogger{}
	w.logger = logs
	w.newEnv(t0)
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 3))
	w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 3, signals.ResultException))
	w.at(45*time.Second+settleDelay/2, func() {
		w.env.SignalWorkflow(signals.TaskExceptionName, exception(0, "malformed-payload"))
		w.env.SignalWorkflow(signals.BuildStartedName, started(brid, 3))
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportException"})

	if got := logs.matching("unhandled signals"); len(got) != 0 {
		t.Errorf("the SDK's generic warning was logged: %v", got)
	}
	got := logs.matching("signals it did not need")
	if len(got) != 1 {
		t.Fatalf("%d lines about the late signals, want 1: %v", len(got), got)
	}
	want := `INFO task workflow ended with 2 signals it did not need: task-exception run 0 reason "malformed-payload"; build-started ` + master + `/3`
	if !strings.HasPrefix(got[0], want) {
		t.Errorf("logged\n%s\nwant\n%s...", got[0], want)
	}
}

// recordingLogger keeps every line logged through it as "LEVEL message
// key=value ...".
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) add(level, msg string, keyvals []any) {
	line := level + " " + msg
	for i := 0; i+1 < len(keyvals); i += 2 {
		line += fmt.Sprintf(" %v=%v", keyvals[i], keyvals[i+1])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *recordingLogger) Debug(msg string, keyvals ...any) { l.add("DEBUG", msg, keyvals) }
func (l *recordingLogger) Info(msg string, keyvals ...any)  { l.add("INFO", msg, keyvals) }
func (l *recordingLogger) Warn(msg string, keyvals ...any)  { l.add("WARN", msg, keyvals) }
func (l *recordingLogger) Error(msg string, keyvals ...any) { l.add("ERROR", msg, keyvals) }

func (l *recordingLogger) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
