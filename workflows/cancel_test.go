package workflows

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// tcCancels does what TC's cancelTask does to the world: the latest run
// becomes exception/canceled.
func (w *world) tcCancels() {
	w.setTC(func(st *activities.TaskStatus) {
		r := &st.Runs[len(st.Runs)-1]
		r.State, r.ReasonResolved, r.TakenUntil = runException, reasonCanceled, time.Time{}
	})
}

// tcCancelsAt cancels the task in TC at workflow time t0+d, and TC's
// task-exception message follows.
func (w *world) tcCancelsAt(d time.Duration) {
	w.at(d, w.tcCancels)
	w.signal(d, signals.TaskExceptionName, exception(0, reasonCanceled))
}

func TestTCCancelBeforeBuildStarts(t *testing.T) {
	w := newWorld(t)
	w.tcCancelsAt(20 * time.Second)
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "CancelBuildRequest"})
	if got := w.requireCallAt("CancelBuildRequest", 0, 20*time.Second).Arg; got != brid {
		t.Errorf("cancelled BuildRequest %v, want %d", got, brid)
	}
	if st := w.query(); st.Phase != signals.PhaseResolved {
		t.Errorf("phase %q", st.Phase)
	}
}

func TestTCCancelWhileRunningWaitsForCancelledFinish(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.tcCancelsAt(100 * time.Second)
	cancelling := w.queryAt(110 * time.Second)
	w.buildFinishesAt(150*time.Second, 8, signals.ResultCancelled)
	w.start(0)
	w.requireDone()
	// Artifacts still go up (TC takes them for 25 minutes after an
	// exception); no cancelTask, no report.
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds", "CreateArtifacts"})
	w.requireCallAt("CancelBuilds", 0, 100*time.Second)
	if art := w.requireCallAt("CreateArtifacts", 0, 150*time.Second).Arg.(activities.ArtifactsInput); art.RunID != 0 {
		t.Errorf("artifacts for run %d", art.RunID)
	}
	if cancelling.Phase != signals.PhaseCancelling {
		t.Errorf("phase after the cancel %q, want cancelling", cancelling.Phase)
	}
}

func TestDeadlineWhileRunningEndsAfterGraceWithoutFinish(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.at(100*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, reasonDeadlineExceeded
		})
	})
	w.signal(100*time.Second, signals.TaskExceptionName, exception(0, reasonDeadlineExceeded))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds"})
	if ended := w.env.Now().Sub(t0) - settleDelay; ended != 100*time.Second+testTiming.FinishedGrace {
		t.Errorf("workflow ended at %s, want FinishedGrace after the deadline (%s)", ended, 100*time.Second+testTiming.FinishedGrace)
	}
}

func TestOtherExceptionReasonsAreIgnored(t *testing.T) {
	w := newWorld(t)
	w.signal(20*time.Second, signals.TaskExceptionName, exception(0, "intermittent-task"))
	w.signal(21*time.Second, signals.TaskExceptionName, exception(0, ""))
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 8))
	w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 8, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
}

func TestBuildRequestCancelledInBuildbot(t *testing.T) {
	w := newWorld(t)
	w.signal(150*time.Second, signals.BuildRequestCancelledName,
		signals.BuildRequestCancelled{EventID: signals.CancelledEventID(brid), BuildRequestID: brid})
	w.start(0)
	w.requireDone()
	// Two row checks (60 s, 120 s) found nothing, then the sweep's signal.
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "ReadBuildRequest", "CancelTask"})
	if got := w.requireCallAt("CancelTask", 0, 150*time.Second).Arg; got != taskID {
		t.Errorf("cancelTask(%v)", got)
	}
	if r := w.run(0); r.State != runException || r.ReasonResolved != reasonCanceled {
		t.Errorf("TC run 0 is %s/%s", r.State, r.ReasonResolved)
	}
}

func TestCheckFindsBuildbotCancellation(t *testing.T) {
	w := newWorld(t)
	w.at(90*time.Second, func() {
		cancelled := signals.ResultCancelled
		w.setRow(func(r *activities.BuildRequestState) { r.Complete, r.Results, r.ClaimedAt = true, &cancelled, 0 })
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "ReadBuildRequest", "CancelTask"})
	w.requireCallAt("CancelTask", 0, 120*time.Second)
}

func TestOperatorCancelBeforeBuildStarts(t *testing.T) {
	w := newWorld(t)
	w.signal(20*time.Second, signals.CancelName, signals.Cancel{Reason: "bug 1234567: wrong revision"})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "CancelBuildRequest", "CancelTask"})
	if r := w.run(0); r.State != runException || r.ReasonResolved != reasonCanceled {
		t.Errorf("TC run 0 is %s/%s", r.State, r.ReasonResolved)
	}
}

func TestOperatorCancelWhileRunning(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.signal(100*time.Second, signals.CancelName, signals.Cancel{Reason: "tree closed"})
	// TC publishes the exception our cancelTask caused.
	w.signal(101*time.Second, signals.TaskExceptionName, exception(0, reasonCanceled))
	w.signal(130*time.Second, signals.BuildFinishedName, finished(brid, 8, signals.ResultCancelled))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds", "CancelTask", "CreateArtifacts"})
	w.requireCallAt("CancelTask", 0, 100*time.Second)
	w.requireCallAt("CreateArtifacts", 0, 130*time.Second)
}
