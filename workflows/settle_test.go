package workflows

import (
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
