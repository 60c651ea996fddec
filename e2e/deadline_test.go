package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 11: the task's deadline passes. TC resolves the run as
// exception/deadline-exceeded on its own; the bridge only stops the work in
// Buildbot, and never tells TC anything more.

// Before the build starts: the pending BuildRequest is cancelled.
func TestDeadlineExceededBeforeBuildStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Builders: []string{lcOtherBuilder}})
	taskID := lcCreateTask(e, 4*time.Second)
	brid := lcWaitBuildRequest(e, taskID)

	e.waitRunState(taskID, 0, "exception", "deadline-exceeded", 20*time.Second)
	lcWaitBridgeCancel(e, lcSelfServePath(e, "request", brid))
	lcWaitRow(e, brid, "cancelled before it started", lcRequestRow.cancelledBeforeStart)
	e.waitWorkflowClosed(taskID, 20*time.Second)

	lcNoCalls(e, taskID, "cancelTask", "claimTask", "reportCompleted", "reportFailed", "reportException")
	if b := lcBuildsOf(e, brid); len(b) != 0 {
		t.Errorf("builds of the request: %+v, want none", b)
	}
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 1 {
		t.Errorf("bridge self-serve calls: %+v, want the one request cancel", calls)
	}
}

// While the build runs, told by TC's task-exception: the build is stopped
// through self-serve and its CANCELLED finish still gets its artifacts. The
// claim is TC's real 20 minutes, so no reclaim happens near the deadline
// and the task-exception message is what the bridge acts on.
func TestDeadlineExceededWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: lcForever})
	taskID := lcCreateTask(e, 6*time.Second)
	brid, build := lcWaitRunning(e, taskID)

	e.waitRunState(taskID, 0, "exception", "deadline-exceeded", 20*time.Second)
	lcWaitBridgeCancel(e, lcSelfServePath(e, "build", build.ID))
	lcWaitBuild(e, brid, "CANCELLED", func(r bbsim.BuildRecord) bool { return r.ID == build.ID && r.Result == bbsim.CANCELLED })
	e.waitWorkflowClosed(taskID, 20*time.Second)

	lcNoCalls(e, taskID, "cancelTask", "reclaimTask", "reportCompleted", "reportFailed", "reportException")
	if arts := lcArtifactNames(e, taskID, 0); !slices.Contains(arts, "public/properties.json") {
		t.Errorf("run 0 artifacts: %v, want public/properties.json from the CANCELLED build", arts)
	}
	if st := e.status(taskID); len(st.Runs) != 1 {
		t.Errorf("TC runs: %+v, want one", st.Runs)
	}
}

// While the build runs, with TC's task-exception message lost (Pulse may
// drop timeout-generated messages): the first reclaim after the deadline is
// refused with 409, and that alone makes the bridge stop the build.
func TestDeadlineExceededWhileRunningReclaimConflict(t *testing.T) {
	t.Parallel()
	// A 3 s claim is reclaimed about every 2 s, so reclaims keep the run
	// until the deadline and one comes soon after it.
	e := newEnv(t, envOptions{ClaimTimeout: 3 * time.Second, Script: lcForever})
	taskID := lcCreateTask(e, 7*time.Second)
	brid, build := lcWaitRunning(e, taskID)
	lcLoseTaskExceptions(e)
	deadline := time.Time(e.status(taskID).Deadline)

	lcWaitBridgeCancel(e, lcSelfServePath(e, "build", build.ID))
	e.waitWorkflowClosed(taskID, 20*time.Second)
	lcWaitBuild(e, brid, "CANCELLED", func(r bbsim.BuildRecord) bool { return r.ID == build.ID && r.Result == bbsim.CANCELLED })
	e.waitRunState(taskID, 0, "exception", "deadline-exceeded", 20*time.Second)

	reclaims := lcAllCalls(e, taskID, "reclaimTask")
	var refused []int
	for i, c := range reclaims {
		if c.Status == 409 {
			refused = append(refused, i)
		} else if c.Status != 200 {
			t.Errorf("reclaim answered %d", c.Status)
		}
	}
	switch {
	case len(refused) != 1:
		t.Errorf("%d reclaims refused with 409, want exactly one (calls: %v)", len(refused), lcCallsBy(e, taskID))
	case refused[0] != len(reclaims)-1:
		t.Errorf("the bridge reclaimed again after the 409 (calls: %v)", lcCallsBy(e, taskID))
	case reclaims[refused[0]].At.Before(deadline):
		t.Errorf("reclaim refused at %s, before the deadline %s", reclaims[refused[0]].At, deadline)
	}
	lcNoCalls(e, taskID, "cancelTask", "reportCompleted", "reportFailed", "reportException")
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 1 {
		t.Errorf("bridge self-serve calls: %+v, want the one build cancel", calls)
	}
}
