package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 16: Pulse loses a build's log_uploaded (finished) event. The
// task must not be reclaimed forever: the bridge sees the BuildRequest
// complete in the scheduler DB, waits finished_grace_seconds (5 in the
// harness) for the event, then resolves the run from the row's result.
// A second task also loses its started event, so the bridge learns of
// its build only from the row too.
func TestSafetyNetLogUploadedLost(t *testing.T) {
	t.Parallel()
	const (
		okBuilder     = "linux64 safety-net build"
		failBuilder   = "linux64 safety-net tests"
		grace         = 5 * time.Second
		claimTimeout  = 3 * time.Second
		reclaimPeriod = 2 * time.Second // claim period / 3 ahead of takenUntil
	)
	e := newEnv(t, envOptions{
		ClaimTimeout: claimTimeout,
		Script: bbsim.ByBuilder(map[string][]bbsim.Attempt{
			okBuilder:   {{Result: bbsim.SUCCESS, Duration: 1500 * time.Millisecond, DropLogUploaded: true}},
			failBuilder: {{Result: bbsim.FAILURE, Duration: 1500 * time.Millisecond, DropLogUploaded: true, DropStarted: true}},
		}),
	})
	ok := e.createTask(taskSpec{Builder: okBuilder, Branch: "mozilla-central"})
	failing := e.createTask(taskSpec{Builder: failBuilder, Branch: "mozilla-central"})

	check := func(taskID, state, report string) {
		t.Helper()
		st := e.waitRunState(taskID, 0, state, state, 40*time.Second)
		e.waitWorkflowClosed(taskID, 30*time.Second)
		brids := e.buildRequests(taskID)
		if len(brids) != 1 {
			t.Fatalf("task %s: BuildRequests %v, want exactly one", taskID, brids)
		}
		var finished time.Time
		for _, b := range e.sim.Builds() {
			if slices.Contains(b.BRIDs, brids[0]) {
				finished = b.Finished
			}
		}
		if finished.IsZero() {
			t.Fatalf("task %s: no finished build of BuildRequest %d", taskID, brids[0])
		}
		// The finished event gets its full grace, and the row is noticed
		// within a couple of reclaim (or row check) periods after it.
		took := time.Time(st.Runs[0].Resolved).Sub(finished)
		t.Logf("task %s (%s) resolved %s after its build finished", taskID, state, took)
		if limit := grace + 2*reclaimPeriod + 2*time.Second; took < grace-100*time.Millisecond || took > limit {
			t.Errorf("task %s resolved %s after its build finished, want between %s and %s", taskID, took, grace, limit)
		}
		if len(st.Runs) != 1 {
			t.Errorf("task %s has %d runs, want 1 (a claim expired?): %+v", taskID, len(st.Runs), st.Runs)
		}
		if n := len(e.calls(taskID, "claimTask")); n != 1 {
			t.Errorf("task %s: %d successful claimTask calls, want 1", taskID, n)
		}
		if n := len(e.calls(taskID, report)); n != 1 {
			t.Errorf("task %s: %s called %d times, want 1", taskID, report, n)
		}
		// The result is still recorded, from the row, which knows no
		// build; no properties.json, which only the lost event carried.
		result, treeherder := "SUCCESS", "success"
		if report == "reportFailed" {
			result, treeherder = "FAILURE", "busted"
		}
		expectBuildResult(e, taskID, 0, wantBuildResult{result: result, treeherder: treeherder, call: report,
			source: "request row", brid: brids[0]})
		if arts := lcArtifactNames(e, taskID, 0); slices.Contains(arts, "public/properties.json") {
			t.Errorf("task %s: artifacts %v: properties.json without a finished event", taskID, arts)
		}
	}
	check(ok, "completed", "reportCompleted")
	check(failing, "failed", "reportFailed")
}
