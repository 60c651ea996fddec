package workflows

import (
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// A run's last TC call must be recorded in a workflow task that does not
// also end the run when TC answers it with a message the bridge consumes:
// otherwise that signal (TC's task-exception answering our reportException)
// makes the server refuse the task and the replay calls TC again. There the
// last thing the workflow asks of Temporal after its last activity is the
// settle timer, and the run ends when it fires. A completed or failed run
// ends at once: nothing of ours answers it.
func TestRunEndsInAWorkflowTaskOfItsOwn(t *testing.T) {
	for _, c := range []struct {
		name    string
		results int
		last    string
		settles bool
	}{
		{"SUCCESS", signals.ResultSuccess, "ReportCompleted", false},
		{"FAILURE", signals.ResultFailure, "ReportFailed", false},
		{"EXCEPTION", signals.ResultException, "ReportException", true},
		{"CANCELLED", signals.ResultCancelled, "CancelTask", true},
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
			settled := lastTimer.d == settleDelay && lastTimer.callsSoFar == len(names)
			wantEnd := 45 * time.Second
			if c.settles {
				wantEnd += settleDelay
			}
			if settled != c.settles {
				t.Errorf("last timer %s after %d of %d activities: settle timer = %v, want %v",
					lastTimer.d, lastTimer.callsSoFar, len(names), settled, c.settles)
			}
			if ended := w.env.Now().Sub(t0); ended != wantEnd {
				t.Errorf("run ended at %s, want %s", ended, wantEnd)
			}
		})
	}
}
