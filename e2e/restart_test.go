package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 18: the worker process is stopped in the middle of a build and
// a new one takes over (a deploy, a crash-restart). The workflow's
// history carries the task across: the new worker renews the claim that
// fell due while no worker ran and resolves the run, and Taskcluster sees
// each state-changing call once.
func TestRestartWorkerMidBuild(t *testing.T) {
	t.Parallel()
	// A 20 s claim is renewed 6.7 s before takenUntil; the worker stays
	// down until that renewal is overdue, and is back with ~6 s to spare
	// before the claim would expire (room for a loaded CI machine).
	const claimTimeout = 20 * time.Second
	e := newEnv(t, envOptions{
		ClaimTimeout: claimTimeout,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 20 * time.Second}),
	})
	taskID := e.createTask(taskSpec{Builder: "linux64 restart build", Branch: "mozilla-central"})

	st := e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	e.stopWorker()
	takenUntil := time.Time(st.Runs[0].TakenUntil)
	e.waitFor(30*time.Second, "the claim's renewal to fall due while no worker runs", func() bool {
		return time.Now().After(takenUntil.Add(-claimTimeout/3 + 500*time.Millisecond))
	})
	if n := len(e.allCalls(taskID, "reclaimTask")); n != 0 {
		t.Fatalf("%d reclaimTask calls while no worker ran: was the worker stopped?", n)
	}
	if b := e.sim.Builds(); len(b) != 1 || !b[0].Finished.IsZero() {
		t.Fatalf("builds %+v: want one build, still running while the worker restarts", b)
	}
	e.startWorker()

	g3ExpectCompleted(e, taskID, "task across a worker restart")
	g3ExpectSingleLifecycle(e, taskID)
	if n := len(e.calls(taskID, "reclaimTask")); n < 1 {
		t.Errorf("no reclaimTask by the new worker, want at least one")
	}
}

// Scenario 18: the build finishes while no worker runs. Its finished event
// waits in the workflow's history; the new worker attaches the artifacts
// and reports the run completed once.
func TestRestartWorkerWhileBuildFinishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		Script: bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 2 * time.Second}),
	})
	taskID := e.createTask(taskSpec{Builder: "linux64 restart build", Branch: "mozilla-central"})

	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	e.stopWorker()
	brids := e.buildRequests(taskID)
	if len(brids) != 1 {
		t.Fatalf("BuildRequests %v, want exactly one", brids)
	}
	e.waitFor(20*time.Second, "the build to finish while no worker runs", func() bool {
		for _, b := range e.sim.Builds() {
			if slices.Contains(b.BRIDs, brids[0]) && !b.Finished.IsZero() {
				return true
			}
		}
		return false
	})
	// The starter delivered the finished event: the workflow has work that
	// only a worker can do.
	e.waitFor(20*time.Second, "a workflow task waiting for a worker", func() bool {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		d, err := e.temporal.DescribeWorkflowExecution(ctx, "task-"+taskID, "")
		return err == nil && d.GetPendingWorkflowTask() != nil
	})
	if st := e.status(taskID); st.Runs[0].State != "running" {
		t.Fatalf("run 0 is %s while no worker runs, want running", st.Runs[0].State)
	}
	e.startWorker()

	g3ExpectCompleted(e, taskID, "task finished across a worker restart")
	g3ExpectSingleLifecycle(e, taskID)
}

// g3ExpectSingleLifecycle checks that Taskcluster saw every
// state-changing call of a successful lifecycle once: one claim, one
// reportCompleted, each artifact created once, and nothing else that
// resolves, cancels or reruns the task.
func g3ExpectSingleLifecycle(e *env, taskID string) {
	e.t.Helper()
	if n := len(e.allCalls(taskID, "claimTask")); n != 1 {
		e.t.Errorf("%d claimTask calls, want 1: %v", n, g3Changes(e, taskID))
	}
	if n := len(e.allCalls(taskID, "reportCompleted")); n != 1 {
		e.t.Errorf("%d reportCompleted calls, want 1: %v", n, g3Changes(e, taskID))
	}
	for _, m := range []string{"reportFailed", "reportException", "cancelTask", "rerunTask"} {
		if n := len(e.allCalls(taskID, m)); n != 0 {
			e.t.Errorf("%d %s calls, want none: %v", n, m, g3Changes(e, taskID))
		}
	}
	if n := len(e.allCalls(taskID, "createArtifact")); n != 3 {
		e.t.Errorf("%d createArtifact calls, want 3 (properties.json, build-result.json and the log): %v", n, g3Changes(e, taskID))
	}
	names := map[string]bool{}
	for _, a := range e.queue.Artifacts(taskID, 0) {
		names[a.Name] = true
	}
	if !names["public/properties.json"] || !names["public/logs/live_backing.log.gz"] {
		e.t.Errorf("artifacts of run 0: %v, want public/properties.json and public/logs/live_backing.log.gz", names)
	}
	st := e.status(taskID)
	for _, r := range st.Runs {
		if r.ReasonResolved == "claim-expired" {
			e.t.Errorf("run %d expired its claim: %+v", r.RunID, st.Runs)
		}
	}
}
