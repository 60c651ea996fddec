package e2e

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 3: Buildbot's RETRY ends run 0 as exception/worker-shutdown and
// TC makes run 1; Buildbot re-runs the SAME BuildRequest (a second builds
// row, no second BuildRequest), and that build's SUCCESS completes run 1.
// The history is recorded for workflows/replay_test.go.
func TestRetryRebuildsTheSameBuildRequestForANewRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: bbsim.Fixed(
		bbsim.Attempt{Result: bbsim.RETRY, Duration: 500 * time.Millisecond},
		bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 500 * time.Millisecond},
	)})
	taskID := e.createTask(taskSpec{
		Builder:  "WINNT 5.2 mozilla-beta build",
		Branch:   "https://hg.mozilla.org/releases/mozilla-beta",
		Revision: "a1b2c3d4e5f6",
	})

	st := e.waitRunState(taskID, 1, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)

	if len(st.Runs) != 2 {
		t.Fatalf("task has %d runs, want 2: %+v", len(st.Runs), st.Runs)
	}
	if r := st.Runs[0]; r.State != "exception" || r.ReasonResolved != "worker-shutdown" {
		t.Errorf("run 0 is %s/%s, want exception/worker-shutdown", r.State, r.ReasonResolved)
	}
	if r := st.Runs[1]; r.ReasonCreated != "retry" {
		t.Errorf("run 1 was created for %q, want retry", r.ReasonCreated)
	}
	exc := e.allCalls(taskID, "reportException")
	if len(exc) != 1 || exc[0].RunID != 0 || exceptionReason(exc[0]) != "worker-shutdown" {
		t.Errorf("reportException calls %+v, want one for run 0 with reason worker-shutdown", exc)
	}
	for run := 0; run < 2; run++ {
		n := 0
		for _, c := range e.calls(taskID, "claimTask") {
			if c.RunID == run {
				n++
			}
		}
		if n != 1 {
			t.Errorf("run %d claimed %d times, want once", run, n)
		}
	}
	if done := e.calls(taskID, "reportCompleted"); len(done) != 1 || done[0].RunID != 1 {
		t.Errorf("reportCompleted calls %+v, want one for run 1", done)
	}

	// Buildbot's side: one BuildRequest, built twice.
	brids := e.buildRequests(taskID)
	if len(brids) != 1 {
		t.Fatalf("BuildRequests %v, want exactly one (Buildbot retries the same request)", brids)
	}
	if r := g1RequestRow(e, brids[0]); r.Complete != 1 || r.Results != bbsim.SUCCESS || r.Builds != 2 {
		t.Errorf("BuildRequest row %+v, want complete 1, results SUCCESS, two builds rows", r)
	}
	builds := g1BuildsOf(e.sim, brids[0])
	if len(builds) != 2 || builds[0].Result != bbsim.RETRY || builds[1].Result != bbsim.SUCCESS {
		t.Fatalf("builds of BuildRequest %d: %+v, want RETRY then SUCCESS", brids[0], builds)
	}
	// Each run carries the artifacts of its own build.
	g1CheckArtifacts(e, taskID, 0, taskID, builds[0].LogURL)
	g1CheckArtifacts(e, taskID, 1, taskID, builds[1].LogURL)
	expectBuildResult(e, taskID, 0, wantBuildResult{result: "RETRY", treeherder: "retry", call: "reportException",
		reason: "worker-shutdown", source: "finished event", brid: brids[0]})
	expectBuildResult(e, taskID, 1, wantBuildResult{result: "SUCCESS", treeherder: "success", call: "reportCompleted",
		source: "finished event", brid: brids[0]})

	g1ReplayAndRecord(e, g1History(e, taskID, ""), "retry.json")
}
