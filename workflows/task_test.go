package workflows

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

const brid = int64(4711) // the first BuildRequest id the world hands out

func TestSuccessWithTwoReclaims(t *testing.T) {
	w := newWorld(t)
	w.claimPeriod = 30 * time.Second // reclaim when 10 s (a third) are left: every 20 s
	w.buildRunsFrom(30*time.Second, 17)
	running := w.queryAt(40 * time.Second)
	w.buildFinishesAt(80*time.Second, 17, signals.ResultSuccess)
	w.start(0)
	w.requireDone()

	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
		"ReclaimRun", "ReadBuildRequest", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportCompleted"})
	inject := w.requireCallAt("InjectBuildRequest", 0, 0).Arg.(activities.InjectInput)
	if inject.RunID != 0 || !inject.SubmittedAt.Equal(t0.Add(-5*time.Second)) || inject.BuilderName != builder || inject.TaskID != taskID {
		t.Errorf("injected %+v; want run 0 submitted at the run's scheduled time", inject)
	}
	if got := w.requireCallAt("ClaimRun", 0, 30*time.Second).Arg; got != (activities.RunRef{TaskID: taskID, RunID: 0}) {
		t.Errorf("claimed %+v", got)
	}
	w.requireCallAt("ReclaimRun", 0, 50*time.Second)
	w.requireCallAt("ReclaimRun", 1, 70*time.Second)
	art := w.requireCallAt("CreateArtifacts", 0, 80*time.Second).Arg.(activities.ArtifactsInput)
	if art.RunID != 0 || art.LogURL != logURL(17) || !art.Expires.Equal(expires) || art.Properties["buildername"][0] != builder {
		t.Errorf("artifacts %+v", art)
	}
	w.requireCallAt("ReportCompleted", 0, 80*time.Second)
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s, want completed", r.State)
	}

	if running.Phase != signals.PhaseRunning || !running.TakenUntil.Equal(t0.Add(60*time.Second)) {
		t.Errorf("state at 40 s: %+v; want running, taken until t0+60s", running)
	}
	st := w.query()
	if st.Phase != signals.PhaseResolved || st.RunID != 0 || st.BuildRequestID != brid || st.BuilderName != builder || st.TaskID != taskID {
		t.Errorf("final state %+v", st)
	}
	if len(st.LastEvents) == 0 {
		t.Error("state has no last events")
	}
	want := map[string]any{"TaskId": taskID, "BuilderName": builder, "BuildRequestId": brid, "TaskState": signals.PhaseResolved}
	for k, v := range want {
		if w.attrs[k] != v {
			t.Errorf("search attribute %s = %v, want %v", k, w.attrs[k], v)
		}
	}
	if w.memo["builderName"] != builder || w.memo["branch"] != "mozilla-central" || w.memo["revision"] != "4e3a9c2f1d7b" {
		t.Errorf("memo %v", w.memo)
	}
}

func TestResolutionByBuildbotResult(t *testing.T) {
	cases := []struct {
		name    string
		results int
		call    string
		state   string
		reason  string
	}{
		{"WARNINGS", signals.ResultWarnings, "ReportFailed", runFailed, runFailed},
		{"FAILURE", signals.ResultFailure, "ReportFailed", runFailed, runFailed},
		{"EXCEPTION", signals.ResultException, "ReportException", runException, "malformed-payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.signal(30*time.Second, signals.BuildStartedName, started(brid, 3))
			w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 3, c.results))
			w.start(0)
			w.requireDone()
			equalStrings(t, "activities", w.callNames(), []string{
				"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", c.call})
			if r := w.run(0); r.State != c.state || r.ReasonResolved != c.reason {
				t.Errorf("TC run 0 is %s/%s, want %s/%s", r.State, r.ReasonResolved, c.state, c.reason)
			}
			if c.call == "ReportException" {
				got := w.callsOf("ReportException")[0].Arg.(activities.ExceptionInput)
				if got != (activities.ExceptionInput{TaskID: taskID, RunID: 0, Reason: "malformed-payload"}) {
					t.Errorf("reportException %+v", got)
				}
			}
		})
	}
}

func TestRetryRerunsOnTheSameBuildRequest(t *testing.T) {
	w := newWorld(t)
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 5))
	w.buildFinishesAt(100*time.Second, 5, signals.ResultRetry)
	// TC publishes task-pending for the retry run it made.
	w.signal(101*time.Second, signals.TaskPendingName, pending(1))
	afterRetry := w.queryAt(110 * time.Second)
	w.signal(130*time.Second, signals.BuildStartedName, started(brid, 6))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 6, signals.ResultSuccess))
	w.start(0)
	w.requireDone()

	equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportException", "RerunTask",
		"ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if got := w.callsOf("ReportException")[0].Arg.(activities.ExceptionInput); got.Reason != "worker-shutdown" || got.RunID != 0 {
		t.Errorf("reportException %+v, want worker-shutdown for run 0", got)
	}
	if got := w.requireCallAt("ClaimRun", 1, 130*time.Second).Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("second claim for run %d, want 1", got.RunID)
	}
	if got := w.callsOf("ReportCompleted")[0].Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("completed run %d, want 1", got.RunID)
	}
	if got := w.callsOf("CreateArtifacts")[1].Arg.(activities.ArtifactsInput); got.RunID != 1 {
		t.Errorf("second artifacts for run %d, want 1", got.RunID)
	}
	if r0, r1 := w.run(0), w.run(1); r0.State != runException || r0.ReasonResolved != "worker-shutdown" || r1.State != runCompleted {
		t.Errorf("TC runs: %+v, %+v", r0, r1)
	}
	if afterRetry.Phase != signals.PhasePending || afterRetry.RunID != 1 || afterRetry.BuildRequestID != brid {
		t.Errorf("state after RETRY %+v: want pending for run 1 on the same BuildRequest", afterRetry)
	}
}

func TestRepeatedEventsAreDropped(t *testing.T) {
	w := newWorld(t)
	w.signal(1*time.Second, signals.TaskPendingName, pending(0))
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 5))
	w.signal(100*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	// Pulse redelivers the old build's events after Buildbot retried: the
	// run they would claim and resolve is the new one.
	w.signal(110*time.Second, signals.BuildStartedName, started(brid, 5))
	w.signal(120*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	w.signal(150*time.Second, signals.BuildStartedName, started(brid, 6))
	w.signal(160*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 6, signals.ResultSuccess))
	w.start(0)
	w.requireDone()

	equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest",
		"ClaimRun", "CreateArtifacts", "ReportException", "RerunTask",
		"ClaimRun", "CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ClaimRun", 1, 150*time.Second)
	if n := w.runCount(); n != 2 {
		t.Errorf("TC has %d runs, want 2", n)
	}
}

func TestStartedEventLostClaimsAtFinish(t *testing.T) {
	w := newWorld(t)
	w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 9, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ClaimRun", 0, 45*time.Second)
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s", r.State)
	}
}

func TestStartedEventLostFoundByCheck(t *testing.T) {
	w := newWorld(t)
	w.at(30*time.Second, w.buildStarts)
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 9, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "ClaimRun",
		"CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ClaimRun", 0, 60*time.Second)
}

func TestIgnoredBuilderMakesNoTCChange(t *testing.T) {
	w := newWorld(t)
	w.prepared = activities.Prepared{Decision: activities.DecisionIgnore, BuilderName: "alder_linux64_build",
		Reason: "matches ignored_builders ^alder"}
	w.start(0)
	w.requireDone()
	// Reading the status and the definition is all: no claim, no report.
	equalStrings(t, "activities", w.callNames(), []string{"TaskStatus", "PrepareTask"})
	if r := w.run(0); r.State != runPending {
		t.Errorf("TC run 0 is %s, want still pending", r.State)
	}
	if st := w.query(); st.Phase != signals.PhaseIgnored {
		t.Errorf("phase %q, want ignored", st.Phase)
	}
	if w.attrs["TaskState"] != signals.PhaseIgnored {
		t.Errorf("TaskState attribute %v", w.attrs["TaskState"])
	}
}

func TestMalformedPayloadIsClaimedAndReported(t *testing.T) {
	w := newWorld(t)
	w.prepared = activities.Prepared{Decision: activities.DecisionMalformed, BuilderName: builder,
		Reason: "payload: missing properties: 'sourcestamp'"}
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{"TaskStatus", "PrepareTask", "ClaimRun", "ReportException"})
	if got := w.callsOf("ReportException")[0].Arg.(activities.ExceptionInput); got != (activities.ExceptionInput{TaskID: taskID, RunID: 0, Reason: "malformed-payload"}) {
		t.Errorf("reportException %+v", got)
	}
	if r := w.run(0); r.State != runException || r.ReasonResolved != "malformed-payload" {
		t.Errorf("TC run 0 is %s/%s", r.State, r.ReasonResolved)
	}
}

func TestPropertyTooLongIsMalformed(t *testing.T) {
	w := newWorld(t)
	w.override["InjectBuildRequest"] = func(any) (any, error) {
		return activities.InjectResult{}, tcError(activities.ErrPropertyTooLong, `property "comments" is 1300 characters encoded, Buildbot allows 1024`)
	}
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReportException"})
	if r := w.run(0); r.State != runException || r.ReasonResolved != "malformed-payload" {
		t.Errorf("TC run 0 is %s/%s", r.State, r.ReasonResolved)
	}
}

func TestLatePendingForResolvedTaskDoesNothing(t *testing.T) {
	w := newWorld(t)
	w.setTC(func(st *activities.TaskStatus) {
		st.Runs[0].State, st.Runs[0].ReasonResolved = runCompleted, runCompleted
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{"TaskStatus"})
	if st := w.query(); st.Phase != signals.PhaseResolved {
		t.Errorf("phase %q", st.Phase)
	}
}

func TestRerunOfResolvedTaskInjectsANewBuildRequest(t *testing.T) {
	w := newWorld(t)
	rerunAt := t0.Add(-30 * time.Second)
	w.setTC(func(st *activities.TaskStatus) {
		st.Runs[0].State, st.Runs[0].ReasonResolved = runCompleted, runCompleted
		st.Runs = append(st.Runs, pendingRun(1, "rerun", rerunAt))
	})
	w.nextBRID = 4712
	w.signal(30*time.Second, signals.BuildStartedName, started(4712, 21))
	w.signal(90*time.Second, signals.BuildFinishedName, finished(4712, 21, signals.ResultSuccess))
	w.start(1)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	inject := w.callsOf("InjectBuildRequest")[0].Arg.(activities.InjectInput)
	if inject.RunID != 1 || !inject.SubmittedAt.Equal(rerunAt) {
		t.Errorf("injected run %d submitted at %s; want run 1 at %s", inject.RunID, inject.SubmittedAt, rerunAt)
	}
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s", r.State)
	}
}

func TestNewerPendingAfterCompleteBuildRequestInjects(t *testing.T) {
	// A SKIPPED build leaves the task waiting; a user's rerun makes run 1,
	// and the complete BuildRequest cannot carry it: a new one is injected.
	w := newWorld(t)
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 2))
	w.buildFinishesAt(40*time.Second, 2, signals.ResultSkipped)
	stalled := w.queryAt(50 * time.Second)
	w.at(60*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, reasonCanceled
			st.Runs = append(st.Runs, pendingRun(1, "rerun", t0.Add(60*time.Second)))
		})
	})
	w.signal(60*time.Second, signals.TaskPendingName, pending(1))
	w.signal(90*time.Second, signals.BuildStartedName, started(brid+1, 3))
	w.signal(120*time.Second, signals.BuildFinishedName, finished(brid+1, 3, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if stalled.Phase != signals.PhaseRunning || stalled.RunID != 0 {
		t.Errorf("state after SKIPPED %+v: want the claimed run kept", stalled)
	}
	if got := w.callsOf("InjectBuildRequest")[1].Arg.(activities.InjectInput); got.RunID != 1 || !got.SubmittedAt.Equal(t0.Add(60*time.Second)) {
		t.Errorf("second injection %+v", got)
	}
	if st := w.query(); st.BuildRequestID != brid+1 || st.RunID != 1 {
		t.Errorf("final state %+v", st)
	}
}

func TestQuarantinedClaimIsNotAClaim(t *testing.T) {
	w := newWorld(t)
	w.quarantined = true
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 4))
	afterClaim := w.queryAt(40 * time.Second)
	w.at(1400*time.Second, func() { w.mu.Lock(); w.quarantined = false; w.mu.Unlock() })
	w.signal(1500*time.Second, signals.BuildFinishedName, finished(brid, 4, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	// No reclaim of a claim we never got, however long the build.
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if afterClaim.Phase != signals.PhasePending || !afterClaim.TakenUntil.IsZero() {
		t.Errorf("state after a quarantined claim %+v: want pending, no takenUntil", afterClaim)
	}
	w.requireCallAt("ClaimRun", 1, 1500*time.Second)
}

func TestTransientFailureIsRetried(t *testing.T) {
	w := newWorld(t)
	failures := 1 // only touched by the one ClaimRun running at a time
	w.override["ClaimRun"] = func(in any) (any, error) {
		if failures > 0 {
			failures--
			return activities.ClaimResult{}, errTransient
		}
		return w.claim(in.(activities.RunRef))
	}
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 1))
	w.signal(45*time.Second, signals.BuildFinishedName, finished(brid, 1, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ClaimRun", 1, 31*time.Second) // the retry policy's initial interval
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s", r.State)
	}
}

// After an outage the events of a RETRY can come late: here Buildbot has
// already built the request again (build 6 started and failed) when build
// 5's RETRY finish arrives. The second build's start says the first was
// retried: run 0 ends worker-shutdown and build 6's failure is run 1's, as
// if the events had come in order. Before, build 6's failure resolved run
// 0 and the RETRY was dropped (the temporal-outage fault found it).
func TestRebuildBeforeTheRetryEventMeansRetry(t *testing.T) {
	w := newWorld(t)
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 5))
	w.signal(100*time.Second, signals.BuildStartedName, started(brid, 6))
	w.signal(110*time.Second, signals.BuildFinishedName, finished(brid, 6, signals.ResultFailure))
	w.signal(111*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	w.start(0)
	w.requireDone()

	requireRetryThen(t, w, runFailed)
	if n := len(w.callsOf("InjectBuildRequest")); n != 1 {
		t.Errorf("InjectBuildRequest %d times, want once: Buildbot rebuilds the same request", n)
	}
	if got := w.callsOf("ReportFailed"); len(got) != 1 || got[0].Arg.(activities.RunRef).RunID != 1 {
		t.Errorf("reportFailed calls %v, want one, for run 1", got)
	}
}

// A started event that comes after its build's finish (Pulse reordered
// them) does not make that build the running one for the retry check: the
// next build's start is not taken as a second RETRY.
func TestLateStartedOfARetriedBuildIsNotARebuild(t *testing.T) {
	w := newWorld(t)
	w.signal(100*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	w.signal(101*time.Second, signals.BuildStartedName, started(brid, 5))
	w.signal(130*time.Second, signals.BuildStartedName, started(brid, 6))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 6, signals.ResultSuccess))
	w.start(0)
	w.requireDone()

	requireRetryThen(t, w, runCompleted)
}

// The same with the new build's finish first, before its start and the
// RETRY's finish (seen in the temporal-outage fault): the finish of
// another build than the running one says the same.
func TestOtherBuildsFinishBeforeTheRetryEventMeansRetry(t *testing.T) {
	w := newWorld(t)
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 5))
	w.signal(100*time.Second, signals.BuildFinishedName, finished(brid, 6, signals.ResultFailure))
	w.signal(101*time.Second, signals.BuildFinishedName, finished(brid, 5, signals.ResultRetry))
	w.signal(102*time.Second, signals.BuildStartedName, started(brid, 6))
	w.start(0)
	w.requireDone()

	requireRetryThen(t, w, runFailed)
}

// The rebuild is taken as the RETRY also when the BuildRequest row was read
// complete first (a reclaim reads it), which ends the running build without
// its finished event: that event is still to come, so the next build's
// events still mean the RETRY (seen in the temporal-outage fault).
func TestRebuildAfterTheRowWasReadCompleteMeansRetry(t *testing.T) {
	w := runningBuild(t)
	w.at(40*time.Second, func() { w.buildEnds(signals.ResultFailure) })
	w.signal(52*time.Second, signals.BuildStartedName, started(brid, 12))
	w.signal(53*time.Second, signals.BuildFinishedName, finished(brid, 12, signals.ResultFailure))
	w.signal(54*time.Second, signals.BuildFinishedName, finished(brid, 11, signals.ResultRetry))
	w.start(0)
	w.requireDone()

	if len(w.callsOf("ReadBuildRequest")) == 0 {
		t.Fatal("the row was never read: the test does not test what it says")
	}
	requireRetryThen(t, w, runFailed)
}

// requireRetryThen checks TC's runs after a RETRY: run 0 ended
// worker-shutdown, run 1 ended in state want, and there is no third run.
func requireRetryThen(t *testing.T, w *world, want string) {
	t.Helper()
	if r0, r1 := w.run(0), w.run(1); r0.State != runException || r0.ReasonResolved != "worker-shutdown" || r1.State != want {
		t.Errorf("TC runs: %+v, %+v; want run 0 worker-shutdown and run 1 %s", r0, r1, want)
	}
	if n := w.runCount(); n != 2 {
		t.Errorf("TC has %d runs, want 2", n)
	}
}
