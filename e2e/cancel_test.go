package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Cancellations from either side, and task-exception reasons that must not
// cancel anything (DESIGN §3 "The event loop", §4 CANCELLED).

// Scenario 7: a user cancels the task in TC before Buildbot started it. The
// bridge cancels the BuildRequest through self-serve, so no master will ever
// pick it up, and its workflow ends; TC keeps the user's exception/canceled.
func TestCancelInTCBeforeBuildStarts(t *testing.T) {
	t.Parallel()
	// No master serves the task's builder, so its request stays pending.
	e := newEnv(t, envOptions{Builders: []string{lcOtherBuilder}})
	taskID := lcCreateTask(e, 0)
	brid := lcWaitBuildRequest(e, taskID)

	if _, err := e.tc.CancelTask(taskID); err != nil {
		t.Fatalf("cancelTask: %v", err)
	}
	lcWaitBridgeCancel(e, lcSelfServePath(e, "request", brid))
	row := lcWaitRow(e, brid, "cancelled before it started", lcRequestRow.cancelledBeforeStart)
	e.waitWorkflowClosed(taskID, 20*time.Second)

	st := e.status(taskID)
	if len(st.Runs) != 1 || st.Runs[0].State != "exception" || st.Runs[0].ReasonResolved != "canceled" {
		t.Errorf("TC runs: %+v, want one run exception/canceled", st.Runs)
	}
	if n := len(e.calls(taskID, "cancelTask")); n != 1 {
		t.Errorf("cancelTask called %d times, want only the user's one", n)
	}
	lcNoCalls(e, taskID, "claimTask", "reportCompleted", "reportFailed", "reportException")
	if b := lcBuildsOf(e, brid); len(b) != 0 {
		t.Errorf("builds of the cancelled request: %+v", b)
	}
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 1 {
		t.Errorf("bridge self-serve calls: %+v, want the one request cancel", calls)
	}
	t.Logf("BuildRequest %d after the cancel: %s", brid, row)
}

// Scenario 8: a user cancels the task in TC while its build runs. The
// bridge stops the build through self-serve; the build finishes CANCELLED,
// its artifacts are still attached (TC takes them for 25 minutes after an
// exception), and that finish does not cancel the task a second time.
func TestCancelInTCWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: lcForever})
	taskID := lcCreateTask(e, 0)
	brid, build := lcWaitRunning(e, taskID)

	if _, err := e.tc.CancelTask(taskID); err != nil {
		t.Fatalf("cancelTask: %v", err)
	}
	lcWaitBridgeCancel(e, lcSelfServePath(e, "build", build.ID))
	lcWaitBuild(e, brid, "CANCELLED", func(r bbsim.BuildRecord) bool { return r.ID == build.ID && r.Result == bbsim.CANCELLED })
	row := lcWaitRow(e, brid, "complete with CANCELLED", func(r lcRequestRow) bool {
		return r.Complete == 1 && r.Results.Valid && r.Results.Int64 == bbsim.CANCELLED
	})
	e.waitWorkflowClosed(taskID, 20*time.Second)

	st := e.status(taskID)
	if len(st.Runs) != 1 || st.Runs[0].State != "exception" || st.Runs[0].ReasonResolved != "canceled" {
		t.Errorf("TC runs: %+v, want one run exception/canceled", st.Runs)
	}
	if n := len(e.calls(taskID, "cancelTask")); n != 1 {
		t.Errorf("cancelTask called %d times, want only the user's one (calls: %v)", n, lcCallsBy(e, taskID))
	}
	lcNoCalls(e, taskID, "reportCompleted", "reportFailed", "reportException")
	// The artifacts show the workflow waited for the CANCELLED finish
	// rather than giving up after finished_grace_seconds.
	if arts := lcArtifactNames(e, taskID, 0); !slices.Contains(arts, "public/properties.json") ||
		!slices.Contains(arts, "public/logs/live_backing.log.gz") {
		t.Errorf("run 0 artifacts after the CANCELLED finish: %v", arts)
	}
	// The user's cancel ended the run, not the build's result.
	if doc := expectBuildResult(e, taskID, 0, wantBuildResult{result: "CANCELLED", treeherder: "usercancel", call: "none",
		source: "finished event", brid: brid}); doc.Taskcluster.Why != "TC ended the run: canceled" {
		t.Errorf("build-result.json says the run ended because %q, want TC's cancel", doc.Taskcluster.Why)
	}
	if b := lcBuildsOf(e, brid); len(b) != 1 {
		t.Errorf("builds of the request: %+v, want the one cancelled build", b)
	}
	t.Logf("BuildRequest %d after the cancel: %s", brid, row)
}

// Scenario 9: a sheriff cancels the BuildRequest in Buildbot (self-serve)
// before it started. Within a sweep interval the bridge cancels the task in
// TC, and its workflow ends.
func TestBuildRequestCancelledInBuildbot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Builders: []string{lcOtherBuilder}})
	taskID := lcCreateTask(e, 0)
	brid := lcWaitBuildRequest(e, taskID)

	lcUserCancel(e, lcSelfServePath(e, "request", brid))
	lcWaitRow(e, brid, "cancelled before it started", lcRequestRow.cancelledBeforeStart)
	cancelledAt := time.Now()
	// reflector.interval is 1 s: a few seconds cover the sweep (or the
	// task's own check of its row) plus one cancelTask call.
	e.waitRunState(taskID, 0, "exception", "canceled", 5*time.Second)
	t.Logf("TC run cancelled %s after the BuildRequest was", time.Since(cancelledAt).Round(10*time.Millisecond))
	e.waitWorkflowClosed(taskID, 20*time.Second)

	if n := len(e.calls(taskID, "cancelTask")); n != 1 {
		t.Errorf("cancelTask called %d times, want the bridge's one", n)
	}
	lcNoCalls(e, taskID, "claimTask", "reportCompleted", "reportFailed", "reportException")
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 0 {
		t.Errorf("the bridge called self-serve for a request Buildbot had cancelled: %+v", calls)
	}
	if st := e.status(taskID); len(st.Runs) != 1 {
		t.Errorf("TC runs: %+v, want one", st.Runs)
	}
}

// Scenario 10: a sheriff stops the running build in Buildbot (self-serve).
// The CANCELLED finish makes the bridge attach the artifacts and cancel the
// task in TC.
func TestBuildCancelledInBuildbotWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: lcForever})
	taskID := lcCreateTask(e, 0)
	brid, build := lcWaitRunning(e, taskID)

	lcUserCancel(e, lcSelfServePath(e, "build", build.ID))
	lcWaitBuild(e, brid, "CANCELLED", func(r bbsim.BuildRecord) bool { return r.ID == build.ID && r.Result == bbsim.CANCELLED })
	e.waitRunState(taskID, 0, "exception", "canceled", 15*time.Second)
	e.waitWorkflowClosed(taskID, 20*time.Second)

	if n := len(e.calls(taskID, "cancelTask")); n != 1 {
		t.Errorf("cancelTask called %d times, want the bridge's one (calls: %v)", n, lcCallsBy(e, taskID))
	}
	lcNoCalls(e, taskID, "reportCompleted", "reportFailed", "reportException")
	if arts := lcArtifactNames(e, taskID, 0); !slices.Contains(arts, "public/properties.json") {
		t.Errorf("run 0 artifacts: %v, want public/properties.json from the CANCELLED build", arts)
	}
	expectBuildResult(e, taskID, 0, wantBuildResult{result: "CANCELLED", treeherder: "usercancel", call: "cancelTask",
		source: "finished event", brid: brid})
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 0 {
		t.Errorf("the bridge called self-serve for a build Buildbot had stopped: %+v", calls)
	}
	if st := e.status(taskID); len(st.Runs) != 1 {
		t.Errorf("TC runs: %+v, want one", st.Runs)
	}
}

// Scenario 15: task-exception messages with another reason, or with no
// reasonResolved, do not stop anything: the build goes on and the task
// completes.
func TestOtherExceptionReasonsIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: lcForever})
	taskID := lcCreateTask(e, 0)
	brid, build := lcWaitRunning(e, taskID)

	lcPublishTaskException(e, taskID, 0, lcStrPtr("worker-shutdown"))
	lcPublishTaskException(e, taskID, 0, nil)
	// Both reached the workflow (its state query lists what it did with
	// each), so the rest of the test is about what it did not do.
	lcWaitStateEvent(e, taskID, `reason "worker-shutdown"`, "ignored")
	lcWaitStateEvent(e, taskID, `reason ""`, "ignored")

	if b := lcBuildsOf(e, brid); len(b) != 1 || b[0].Result != -1 {
		t.Fatalf("builds after the exception messages: %+v, want the one build still running", b)
	}
	if st := e.status(taskID); st.Runs[0].State != "running" {
		t.Fatalf("TC run 0 is %s after the exception messages, want running", st.Runs[0].State)
	}
	if err := e.sim.FinishBuild(build.ID, bbsim.SUCCESS); err != nil {
		t.Fatal(err)
	}
	st := e.waitRunState(taskID, 0, "completed", "completed", 20*time.Second)
	e.waitWorkflowClosed(taskID, 20*time.Second)

	if len(st.Runs) != 1 {
		t.Errorf("TC runs: %+v, want one", st.Runs)
	}
	if n := len(e.calls(taskID, "reportCompleted")); n != 1 {
		t.Errorf("reportCompleted called %d times, want 1", n)
	}
	lcNoCalls(e, taskID, "cancelTask", "reportException")
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 0 {
		t.Errorf("self-serve calls: %+v, want none", calls)
	}
}

// operatorCancels are the ways an operator cancels a task by hand: the
// cancel signal, and a cancel request (the Web UI's Request Cancellation
// button, `temporal workflow cancel`), which must do exactly the same and
// close the workflow as Canceled.
var operatorCancels = []struct {
	name   string
	cancel func(e *env, taskID string)
	closed func(e *env, taskID string)
}{
	{"signal", func(e *env, taskID string) { lcSignalCancel(e, taskID, "bad push, backed out") },
		func(e *env, taskID string) { e.waitWorkflowClosed(taskID, 20*time.Second) }},
	{"cancel-request", lcRequestCancellation, lcWaitWorkflowCanceled},
}

// Scenario 17, before the build starts: an operator's cancel cancels the
// BuildRequest in Buildbot and the task in TC, once each.
func TestOperatorCancelBeforeBuildStarts(t *testing.T) {
	t.Parallel()
	for _, oc := range operatorCancels {
		t.Run(oc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{Builders: []string{lcOtherBuilder}})
			taskID := lcCreateTask(e, 0)
			brid := lcWaitBuildRequest(e, taskID)

			oc.cancel(e, taskID)
			lcWaitBridgeCancel(e, lcSelfServePath(e, "request", brid))
			lcWaitRow(e, brid, "cancelled before it started", lcRequestRow.cancelledBeforeStart)
			e.waitRunState(taskID, 0, "exception", "canceled", 15*time.Second)
			oc.closed(e, taskID)

			if n := len(e.calls(taskID, "cancelTask")); n != 1 {
				t.Errorf("cancelTask called %d times, want the bridge's one", n)
			}
			lcNoCalls(e, taskID, "claimTask", "reportCompleted", "reportFailed", "reportException")
			if b := lcBuildsOf(e, brid); len(b) != 0 {
				t.Errorf("builds of the cancelled request: %+v", b)
			}
			if calls := lcBridgeSelfServeCalls(e); len(calls) != 1 {
				t.Errorf("bridge self-serve calls: %+v, want the one request cancel", calls)
			}
			lcRequireCancelledState(e, taskID)
		})
	}
}

// Scenario 17, while the build runs: the operator's cancel stops the build
// in Buildbot and cancels the task in TC once; the CANCELLED finish that
// follows only attaches the artifacts.
func TestOperatorCancelWhileRunning(t *testing.T) {
	t.Parallel()
	for _, oc := range operatorCancels {
		t.Run(oc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{Script: lcForever})
			taskID := lcCreateTask(e, 0)
			brid, build := lcWaitRunning(e, taskID)

			oc.cancel(e, taskID)
			lcWaitBridgeCancel(e, lcSelfServePath(e, "build", build.ID))
			lcWaitBuild(e, brid, "CANCELLED", func(r bbsim.BuildRecord) bool { return r.ID == build.ID && r.Result == bbsim.CANCELLED })
			e.waitRunState(taskID, 0, "exception", "canceled", 15*time.Second)
			oc.closed(e, taskID)

			if n := len(e.calls(taskID, "cancelTask")); n != 1 {
				t.Errorf("cancelTask called %d times, want the bridge's one (calls: %v)", n, lcCallsBy(e, taskID))
			}
			lcNoCalls(e, taskID, "reportCompleted", "reportFailed", "reportException")
			if arts := lcArtifactNames(e, taskID, 0); !slices.Contains(arts, "public/properties.json") {
				t.Errorf("run 0 artifacts: %v, want public/properties.json from the CANCELLED build", arts)
			}
			if doc := expectBuildResult(e, taskID, 0, wantBuildResult{result: "CANCELLED", treeherder: "usercancel", call: "none",
				source: "finished event", brid: brid}); !strings.HasPrefix(doc.Taskcluster.Why, "an operator cancelled the task") {
				t.Errorf("build-result.json says the run ended because %q, want the operator's cancel", doc.Taskcluster.Why)
			}
			if calls := lcBridgeSelfServeCalls(e); len(calls) != 1 {
				t.Errorf("bridge self-serve calls: %+v, want the one build cancel", calls)
			}
			if runs := e.status(taskID).Runs; len(runs) != 1 {
				t.Errorf("TC runs %+v, want the one canceled run", runs)
			}
			lcRequireCancelledState(e, taskID)
		})
	}
}
