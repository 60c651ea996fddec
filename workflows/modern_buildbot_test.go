package workflows

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// A modern master that shuts down cancels the builds it runs and completes
// their requests: nobody asked for the task to stop, so it runs again on a
// new request instead of being cancelled.
func TestMasterShutdownRerunsOnANewRequest(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 5)
	w.at(100*time.Second, func() { w.buildEnds(signals.ResultCancelled) })
	ev := finished(brid, 5, signals.ResultCancelled)
	ev.Interrupted = "the master shut down while the build ran"
	w.signal(100*time.Second, signals.BuildFinishedName, ev)
	// TC publishes task-pending for the retry run worker-shutdown made.
	w.signal(101*time.Second, signals.TaskPendingName, pending(1))
	w.signal(130*time.Second, signals.BuildStartedName, started(brid+1, 1))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid+1, 1, signals.ResultSuccess))
	w.start(0)
	w.requireDone()

	equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportException", "RerunTask",
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if got := w.callsOf("ReportException")[0].Arg.(activities.ExceptionInput); got.Reason != "worker-shutdown" || got.RunID != 0 {
		t.Errorf("reportException %+v, want worker-shutdown for run 0", got)
	}
	if got := w.callsOf("InjectBuildRequest")[1].Arg.(activities.InjectInput); got.RunID != 1 {
		t.Errorf("second request injected for run %d, want 1", got.RunID)
	}
	if r0, r1 := w.run(0), w.run(1); r0.State != runException || r0.ReasonResolved != "worker-shutdown" || r1.State != runCompleted {
		t.Errorf("TC runs: %+v, %+v", r0, r1)
	}
	if s := w.query(); s.BuildRequestID != brid+1 || s.Phase != signals.PhaseResolved {
		t.Errorf("state %+v, want resolved on BuildRequest %d", s, brid+1)
	}
}

// A request collapsed into a newer one (SKIPPED, no build: the master's
// collapseRequests is on) is found by the safety net. The pending run is
// claimed only to end it worker-shutdown; the next run gets a new request.
func TestCollapsedRequestRerunsOnANewRequest(t *testing.T) {
	w := newWorld(t)
	w.at(30*time.Second, func() {
		w.setRow(func(r *activities.BuildRequestState) {
			skipped := signals.ResultSkipped
			r.Complete, r.Results, r.CompleteAt = true, &skipped, w.now().Unix()
			r.Interrupted = "it was collapsed into a newer request on the same builder (collapseRequests)"
		})
	})
	w.signal(130*time.Second, signals.BuildStartedName, started(brid+1, 1))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid+1, 1, signals.ResultSuccess))
	w.start(0)
	w.requireDone()

	equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportException", "RerunTask",
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if len(w.callsOf("CancelTask")) != 0 {
		t.Error("a collapsed request cancelled the task")
	}
	if r0, r1 := w.run(0), w.run(1); r0.ReasonResolved != "worker-shutdown" || r1.State != runCompleted {
		t.Errorf("TC runs: %+v, %+v", r0, r1)
	}
}

// A CANCELLED finish while TC's cancel is carried out is the cancel the
// bridge asked for, even if Buildbot calls it an interruption.
func TestInterruptedWhileCancellingEndsTheTask(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 5)
	w.at(60*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) { w.resolveLocked(w.latestLocked(), runException, reasonCanceled) })
	})
	w.signal(60*time.Second, signals.TaskExceptionName, exception(0, reasonCanceled))
	w.at(70*time.Second, func() { w.buildEnds(signals.ResultCancelled) })
	ev := finished(brid, 5, signals.ResultCancelled)
	ev.Interrupted = "the master shut down while the build ran"
	w.signal(70*time.Second, signals.BuildFinishedName, ev)
	w.start(0)
	w.requireDone()
	if n := len(w.callsOf("InjectBuildRequest")); n != 1 {
		t.Errorf("%d requests injected, want 1", n)
	}
	if n := len(w.callsOf("RerunTask")); n != 0 {
		t.Errorf("a cancelled task was rerun")
	}
}

// A modern master never resends a push: with PollRunning the request is
// read every CheckInterval while its build runs, so a lost finished event
// is made up for within CheckInterval + FinishedGrace, not a claim period.
func TestPollRunningResolvesALostFinish(t *testing.T) {
	w := newWorld(t)
	w.override["InjectBuildRequest"] = func(any) (any, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.row = activities.BuildRequestState{BuildRequestID: brid}
		return activities.InjectResult{BuildRequestID: brid, Created: true, PollRunning: true}, nil
	}
	w.buildRunsFrom(30*time.Second, 5)
	w.at(200*time.Second, func() { w.buildEnds(signals.ResultSuccess) }) // its push is lost
	w.start(0)
	w.requireDone()
	done := w.callsOf("ReportCompleted")
	if len(done) != 1 {
		t.Fatalf("reportCompleted %d times, want once; calls %v", len(done), w.callNames())
	}
	// Checks every 60 s see the row complete by 260 s, then the 600 s
	// finished grace; the first reclaim would be at 930 s.
	if at := done[0].At; at < 800*time.Second || at > 860*time.Second {
		t.Errorf("resolved at %s, want within CheckInterval + FinishedGrace of the end (800-860 s)", at)
	}
	if n := len(w.callsOf("ReclaimRun")); n != 0 {
		t.Errorf("%d reclaims: the lost finish should be found before any", n)
	}
}
