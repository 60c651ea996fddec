package workflows

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// runningBuild scripts a build that starts at 30 s with a 30 s claim
// period, so the first reclaim is due at 50 s.
func runningBuild(t *testing.T) *world {
	w := newWorld(t)
	w.claimPeriod = 30 * time.Second
	w.buildRunsFrom(30*time.Second, 11)
	return w
}

func TestReclaimConflictWithNewerPendingRunClaimsIt(t *testing.T) {
	w := runningBuild(t)
	// The claim expired in TC (the reclaim came too late), and TC retried.
	w.at(49*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(49*time.Second)))
		})
	})
	w.signal(75*time.Second, signals.BuildFinishedName, finished(brid, 11, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
		"ReclaimRun", "TaskStatus", "ClaimRun", "ReadBuildRequest", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportCompleted"})
	if got := w.requireCallAt("ClaimRun", 1, 50*time.Second).Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("claimed run %d after the 409, want 1", got.RunID)
	}
	if got := w.requireCallAt("ReclaimRun", 1, 70*time.Second).Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("reclaimed run %d, want 1", got.RunID)
	}
	if got := w.callsOf("ReportCompleted")[0].Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("completed run %d, want 1", got.RunID)
	}
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s", r.State)
	}
}

func TestReclaimConflictPastDeadlineCancelsBuilds(t *testing.T) {
	w := runningBuild(t)
	w.at(49*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, reasonDeadlineExceeded
		})
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "TaskStatus", "CancelBuilds"})
	if got := w.requireCallAt("CancelBuilds", 0, 50*time.Second).Arg; got != brid {
		t.Errorf("cancelled builds of %v", got)
	}
}

func TestReclaimConflictWithRetriesExhaustedCancelsBuilds(t *testing.T) {
	w := runningBuild(t)
	w.at(49*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
		})
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "TaskStatus", "CancelBuilds"})
}

func TestReclaimConflictAfterRunResolvedWaitsForFinish(t *testing.T) {
	// Another bridge (the one being replaced) reported the build's result.
	w := runningBuild(t)
	w.at(45*time.Second, func() {
		w.buildEnds(signals.ResultSuccess)
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runCompleted, runCompleted
		})
	})
	w.signal(90*time.Second, signals.BuildFinishedName, finished(brid, 11, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "TaskStatus"})
	if ended := w.env.Now().Sub(t0) - settleDelay; ended != 90*time.Second {
		t.Errorf("ended at %s, want at the finished event (90s)", ended)
	}
}

func TestReclaimNotFoundOrForbiddenEnds(t *testing.T) {
	for _, kind := range []string{activities.ErrTCNotFound, activities.ErrTCForbidden} {
		t.Run(kind, func(t *testing.T) {
			w := runningBuild(t)
			w.override["ReclaimRun"] = func(any) (any, error) {
				return activities.ClaimResult{}, tcError(kind, "reclaimTask refused")
			}
			w.start(0)
			w.requireDone()
			equalStrings(t, "activities", w.callNames(), []string{
				"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun"})
			if st := w.query(); st.Phase != signals.PhaseResolved || !st.TakenUntil.IsZero() {
				t.Errorf("final state %+v", st)
			}
		})
	}
}

func TestNewerPendingWhileBuildRunsClaimsNewRun(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 12)
	w.at(100*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(100*time.Second)))
		})
	})
	w.signal(100*time.Second, signals.TaskPendingName, pending(1))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 12, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if got := w.requireCallAt("ClaimRun", 1, 100*time.Second).Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("claimed run %d, want 1", got.RunID)
	}
	if got := w.callsOf("ReportCompleted")[0].Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("completed run %d, want 1", got.RunID)
	}
}

func TestSafetyNetResolvesFromTheRow(t *testing.T) {
	w := newWorld(t) // TC's real 20-minute claims: reclaims every 15 minutes
	w.buildRunsFrom(30*time.Second, 13)
	// The build fails at 5 minutes; its log_uploaded message is lost.
	w.at(300*time.Second, func() { w.buildEnds(signals.ResultFailure) })
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportFailed"})
	w.requireCallAt("ReclaimRun", 0, 930*time.Second)
	// Noticed on the reclaim at 930 s, resolved FinishedGrace later,
	// with the build result but no properties artifact.
	if art := w.requireCallAt("CreateArtifacts", 0, 930*time.Second+testTiming.FinishedGrace).Arg.(activities.ArtifactsInput); !art.NoProperties {
		t.Errorf("artifacts from the row %+v, want no properties.json", art)
	}
	w.requireCallAt("ReportFailed", 0, 930*time.Second+testTiming.FinishedGrace)
	if r := w.run(0); r.State != runFailed {
		t.Errorf("TC run 0 is %s", r.State)
	}
}

func TestSafetyNetWaitsForLateFinishedEvent(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 13)
	w.at(300*time.Second, func() { w.buildEnds(signals.ResultSuccess) })
	// Pulse was slow, not lossy: the event arrives within the grace.
	w.signal(1000*time.Second, signals.BuildFinishedName, finished(brid, 13, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ReportCompleted", 0, 1000*time.Second)
}

// Found by the scale run: the claim expired while the build ran (TC made
// run 1 pending, and its task-pending never reached the workflow before the
// build finished). TC refuses to resolve run 0; the build's success must
// complete run 1, not leave it pending until the deadline.
func TestFinishedAfterClaimExpiredResolvesTheNewerRun(t *testing.T) {
	w := newWorld(t) // 20-minute claims: no reclaim before the finish
	w.buildRunsFrom(30*time.Second, 14)
	w.at(100*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(100*time.Second)))
		})
	})
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 14, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
		"CreateArtifacts", "ReportCompleted", "TaskStatus", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if got := w.callsOf("ReportCompleted")[1].Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("completed run %d, want 1", got.RunID)
	}
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s, want completed", r.State)
	}
	if st := w.query(); st.Phase != signals.PhaseResolved || st.RunID != 1 {
		t.Errorf("final state: phase %s run %d", st.Phase, st.RunID)
	}
}

// The newer run is gone too (deadline passed): the task ends, no loop.
func TestFinishedAfterClaimExpiredWithNoNewerRunEnds(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 15)
	w.at(100*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
		})
	})
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid, 15, signals.ResultFailure))
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
		"CreateArtifacts", "ReportFailed", "TaskStatus"})
	if st := w.query(); st.Phase != signals.PhaseResolved {
		t.Errorf("final phase %s", st.Phase)
	}
}

// A reclaim call that hangs is given up in time to retry before takenUntil:
// with a 30 s claim the lead is 10 s, and an attempt given the usual 30 s
// would outlast the claim.
func TestHungReclaimIsRetriedBeforeTheClaimExpires(t *testing.T) {
	w := runningBuild(t)
	w.hungReclaims = 1
	w.signal(75*time.Second, signals.BuildFinishedName, finished(brid, 11, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	if len(w.reclaimBudgets) != 1 {
		t.Fatalf("hung reclaim attempts: %v, want 1", w.reclaimBudgets)
	}
	if b := w.reclaimBudgets[0]; b > 10*time.Second/4 || b <= 0 {
		t.Errorf("the hung attempt was given %s, want at most a quarter of the 10 s left of the claim", b)
	}
	reclaims := w.callsOf("ReclaimRun")
	if len(reclaims) < 2 || reclaims[1].At >= 60*time.Second {
		t.Fatalf("reclaims at %v: the retry must come before takenUntil (60 s)", reclaims)
	}
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s, want completed on its first claim", r.State)
	}
	if got := w.callsOf("ClaimRun"); len(got) != 1 {
		t.Errorf("ClaimRun %d times, want once (the claim never lapsed)", len(got))
	}
}

func TestTCAttempt(t *testing.T) {
	for _, c := range []struct{ left, want time.Duration }{
		{300 * time.Second, 30 * time.Second}, // TC's 20-minute claims: the usual timeout
		{40 * time.Second, 10 * time.Second},
		{4 * time.Second, minTCAttempt},
	} {
		if got := tcAttempt(30*time.Second, c.left); got != c.want {
			t.Errorf("tcAttempt(30s, %s) = %s, want %s", c.left, got, c.want)
		}
	}
}

// A RETRY build whose claim expired before the reclaim came: TC refuses
// worker-shutdown for run 0 (409) and already has run 1 pending. The retry
// is carried on with run 1, on the same BuildRequest, instead of ending
// the workflow and leaving run 1 pending for good.
func TestRetryAfterClaimExpiredCarriesOnWithTheNewerRun(t *testing.T) {
	w := runningBuild(t)
	w.at(45*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(45*time.Second)))
		})
	})
	w.buildFinishesAt(46*time.Second, 11, signals.ResultRetry)
	w.signal(47*time.Second, signals.TaskPendingName, pending(1))
	w.buildRunsFrom(60*time.Second, 12)
	w.buildFinishesAt(80*time.Second, 12, signals.ResultSuccess)
	w.start(0)
	w.requireDone()

	if got := w.callsOf("ReportException")[0].Arg.(activities.ExceptionInput); got.RunID != 0 || got.Reason != "worker-shutdown" {
		t.Errorf("reportException %+v, want worker-shutdown for run 0", got)
	}
	if n := len(w.callsOf("RerunTask")); n != 0 {
		t.Errorf("rerunTask %d times: TC had made the retry run already", n)
	}
	if got := w.requireCallAt("ClaimRun", 1, 60*time.Second).Arg.(activities.RunRef); got.RunID != 1 {
		t.Errorf("claimed run %d after the retry, want 1", got.RunID)
	}
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s, want completed by the rebuilt request", r.State)
	}
	if n := len(w.callsOf("InjectBuildRequest")); n != 1 {
		t.Errorf("InjectBuildRequest %d times, want once: Buildbot rebuilds the same request", n)
	}
}

// The queue's clock 3 minutes off ours: reclaims still come every 20 s of
// a 30 s claim, from the reply's measure of the queue's clock. Measured on
// our own clock, a queue ahead would see every claim expire (first reclaim
// at 3m20s), and one behind would be reclaimed every second.
func TestReclaimsFollowTheQueueClock(t *testing.T) {
	for _, ahead := range []time.Duration{3 * time.Minute, -3 * time.Minute} {
		t.Run(ahead.String(), func(t *testing.T) {
			w := runningBuild(t)
			w.tcAhead = ahead
			w.buildFinishesAt(100*time.Second, 11, signals.ResultSuccess)
			w.start(0)
			w.requireDone()
			equalStrings(t, "activities", w.callNames("ReadBuildRequest"), []string{
				"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun",
				"ReclaimRun", "ReclaimRun", "ReclaimRun", "CreateArtifacts", "ReportCompleted"})
			for i, at := range []time.Duration{50 * time.Second, 70 * time.Second, 90 * time.Second} {
				w.requireCallAt("ReclaimRun", i, at)
			}
			if r := w.run(0); r.State != runCompleted {
				t.Errorf("TC run 0 is %s, want completed", r.State)
			}
		})
	}
}

// A deadline is on the queue's clock too: with the queue 3 minutes ahead,
// a reclaim refused 2m50s before the deadline read on our clock is 10 s
// past it on the queue's, so the build is cancelled rather than carried on
// for a newer run the queue ends at once.
func TestDeadlineFollowsTheQueueClock(t *testing.T) {
	w := runningBuild(t)
	w.tcAhead = 3 * time.Minute
	w.status.Deadline = t0.Add(3*time.Minute + 40*time.Second)
	w.at(49*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(49*time.Second)))
		})
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "TaskStatus", "CancelBuilds"})
}

// TC failing the artifacts of a finished build for longer than the claim
// has left: the calls stop at the reclaim time, the claim is renewed, and
// the run is reported within its claim. The calls used to retry until the
// claim had expired.
func TestReportingReclaimsWhileTCDoesNotAnswer(t *testing.T) {
	w := runningBuild(t)
	w.buildFinishesAt(45*time.Second, 11, signals.ResultSuccess)
	w.override["CreateArtifacts"] = func(any) (any, error) {
		if w.now().Before(t0.Add(75 * time.Second)) {
			return nil, errTransient
		}
		return nil, nil
	}
	w.start(0)
	w.requireDone()
	// The retries stop at the reclaim time (50 s), or at the last attempt
	// whose backoff would pass it.
	reclaims := w.callsOf("ReclaimRun")
	if len(reclaims) == 0 || reclaims[0].At < 45*time.Second || reclaims[0].At > 50*time.Second {
		t.Fatalf("reclaims %v, want the first between the build's end (45 s) and the reclaim time (50 s)", reclaims)
	}
	if got := reclaims[0].Arg.(activities.RunRef); got.RunID != 0 {
		t.Errorf("reclaimed run %d, want 0", got.RunID)
	}
	if got := w.callsOf("ReportCompleted"); len(got) != 1 || got[0].At > 80*time.Second {
		t.Errorf("reportCompleted calls %v, want one within the renewed claim (before 80 s)", got)
	}
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s, want completed", r.State)
	}
}

// The same, but TC ended the claim (claim-expired, a newer pending run)
// before the reclaim: the build's result goes to the newer run.
func TestReportingFindsTheClaimLostWhileTCDoesNotAnswer(t *testing.T) {
	w := runningBuild(t)
	w.buildFinishesAt(45*time.Second, 11, signals.ResultSuccess)
	var mu sync.Mutex
	var attachedTo []int
	w.override["CreateArtifacts"] = func(in any) (any, error) {
		if w.now().Before(t0.Add(75 * time.Second)) {
			return nil, errTransient
		}
		mu.Lock()
		defer mu.Unlock()
		attachedTo = append(attachedTo, in.(activities.ArtifactsInput).RunID)
		return nil, nil
	}
	w.at(46*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(46*time.Second)))
		})
	})
	w.start(0)
	w.requireDone()
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s, want completed", r.State)
	}
	if n := w.runCount(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(attachedTo, 1) {
		t.Errorf("run 1 was resolved without the build's artifacts (attached to runs %v)", attachedTo)
	}
}

// A RETRY whose worker-shutdown TC does not answer until after the claim
// expired: the reclaim between attempts is refused, TC's newer run is
// claimed, and the retry carries on with it on the same BuildRequest.
func TestRetryWhileTCDoesNotAnswerCarriesOnWithTheNewerRun(t *testing.T) {
	w := runningBuild(t)
	w.buildFinishesAt(45*time.Second, 11, signals.ResultRetry)
	w.override["ReportException"] = func(in any) (any, error) {
		if w.now().Before(t0.Add(75 * time.Second)) {
			return nil, errTransient
		}
		return nil, w.reportException(in.(activities.ExceptionInput))
	}
	w.at(46*time.Second, func() {
		w.setTC(func(st *activities.TaskStatus) {
			st.Runs[0].State, st.Runs[0].ReasonResolved = runException, "claim-expired"
			st.Runs = append(st.Runs, pendingRun(1, "retry", t0.Add(46*time.Second)))
		})
	})
	w.buildRunsFrom(90*time.Second, 12)
	w.buildFinishesAt(100*time.Second, 12, signals.ResultSuccess)
	w.start(0)
	w.requireDone()
	if r := w.run(1); r.State != runCompleted {
		t.Errorf("TC run 1 is %s, want completed by the rebuilt request", r.State)
	}
	if n := w.runCount(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	if n := len(w.callsOf("InjectBuildRequest")); n != 1 {
		t.Errorf("InjectBuildRequest %d times, want once: Buildbot rebuilds the same request", n)
	}
}
