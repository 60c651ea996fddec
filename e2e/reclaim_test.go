package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Scenario 12: a reclaim answered 404 (the task expired, or the queue does
// not know it) or 403 (the bridge's credentials lost the scope) ends the
// task's workflow cleanly: one refused reclaim, no retry, no crash, and
// Buildbot is left alone (DESIGN §4 "Reclaim answers").
func TestReclaimRefusedEndsTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
	}{
		{"404 task expired", http.StatusNotFound},
		{"403 insufficient scopes", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A 3 s claim is reclaimed about 2 s after the claim.
			e := newEnv(t, envOptions{ClaimTimeout: 3 * time.Second, Script: lcForever})
			taskID := lcCreateTask(e, 0)
			brid, _ := lcWaitRunning(e, taskID)
			e.queue.SetFault(func(method string) (int, bool) {
				if method == "reclaimTask" {
					return tc.status, false
				}
				return 0, false
			})

			e.waitWorkflowClosed(taskID, 20*time.Second)

			var refused []int
			reclaims := lcAllCalls(e, taskID, "reclaimTask")
			for i, c := range reclaims {
				if c.Status == tc.status {
					refused = append(refused, i)
				}
			}
			if len(refused) != 1 || refused[0] != len(reclaims)-1 {
				t.Errorf("reclaims: %v; want exactly one answered %d, and none after it", lcCallsBy(e, taskID), tc.status)
			}
			lcNoCalls(e, taskID, "cancelTask", "reportCompleted", "reportFailed", "reportException")
			if calls := lcBridgeSelfServeCalls(e); len(calls) != 0 {
				t.Errorf("bridge self-serve calls: %+v, want none", calls)
			}
			if b := lcBuildsOf(e, brid); len(b) != 1 || b[0].Result != -1 {
				t.Errorf("builds: %+v, want the one build left running", b)
			}
		})
	}
}

// Scenario 21: the claim expires while the bridge is down, and TC makes
// retry run 1. The build in Buildbot is healthy, so when a worker is back
// the refused reclaim of run 0 must not kill it: the bridge claims run 1
// and the task completes on run 1, with the one build (DESIGN §4).
func TestClaimExpiredWhileBridgeDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{ClaimTimeout: 3 * time.Second, Script: lcForever})
	taskID := lcCreateTask(e, 0)
	brid, build := lcWaitRunning(e, taskID)

	e.stopWorker()
	st := e.waitRunState(taskID, 1, "pending", "", 20*time.Second)
	if r := st.Runs[0]; r.State != "exception" || r.ReasonResolved != "claim-expired" {
		t.Fatalf("run 0 is %s/%s, want exception/claim-expired", r.State, r.ReasonResolved)
	}
	if r := st.Runs[1]; r.ReasonCreated != "retry" {
		t.Errorf("run 1 reasonCreated %q, want retry", r.ReasonCreated)
	}

	e.startWorker()
	e.waitRunState(taskID, 1, "running", "", 30*time.Second)
	var claim struct{ WorkerGroup, WorkerID string }
	claims := e.calls(taskID, "claimTask")
	i := slices.IndexFunc(claims, func(c tcfake.Call) bool { return c.RunID == 1 })
	if i < 0 {
		t.Fatalf("no successful claimTask of run 1 (calls: %v)", lcCallsBy(e, taskID))
	}
	_ = json.Unmarshal(claims[i].Body, &claim)
	if claim.WorkerGroup != workerGroup || claim.WorkerID != workerID {
		t.Errorf("run 1 claimed as %s/%s, want %s/%s", claim.WorkerGroup, claim.WorkerID, workerGroup, workerID)
	}
	if b := lcBuildsOf(e, brid); len(b) != 1 || b[0].Result != -1 {
		t.Fatalf("builds once run 1 is claimed: %+v, want the first build still running", b)
	}

	if err := e.sim.FinishBuild(build.ID, bbsim.SUCCESS); err != nil {
		t.Fatal(err)
	}
	st = e.waitRunState(taskID, 1, "completed", "completed", 20*time.Second)
	e.waitWorkflowClosed(taskID, 20*time.Second)

	if len(st.Runs) != 2 {
		t.Errorf("TC runs: %+v, want two", st.Runs)
	}
	if ids := e.buildRequests(taskID); len(ids) != 1 {
		t.Errorf("BuildRequests: %v, want the one", ids)
	}
	if b := lcBuildsOf(e, brid); len(b) != 1 {
		t.Errorf("builds: %+v, want the one", b)
	}
	if calls := lcBridgeSelfServeCalls(e); len(calls) != 0 {
		t.Errorf("bridge self-serve calls: %+v, want none", calls)
	}
	if arts := lcArtifactNames(e, taskID, 1); !slices.Contains(arts, "public/properties.json") {
		t.Errorf("run 1 artifacts: %v", arts)
	}
	lcNoCalls(e, taskID, "cancelTask", "reportFailed", "reportException")
	var completed []int
	for _, c := range e.calls(taskID, "reportCompleted") {
		completed = append(completed, c.RunID)
	}
	if !slices.Equal(completed, []int{1}) {
		t.Errorf("reportCompleted for runs %v, want [1]", completed)
	}
	for _, c := range lcAllCalls(e, taskID, "reclaimTask") {
		if c.Status == http.StatusConflict {
			t.Logf("reclaim of run %d refused with 409 after the restart", c.RunID)
		}
	}
}
