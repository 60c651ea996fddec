package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Scenario 4: Pulse delivers the task-pending message three times and two
// starters consume the queue at once; the task still gets exactly one
// BuildRequest, one claim and one resolution, in one workflow run.
func TestTaskPendingDeliveredThreeTimesToTwoStarters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		Starters: 2,
		// Long enough that every copy arrives while the task is running.
		Script: bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 3 * time.Second}),
	})
	pending := g1TapTaskPending(e)
	taskID := e.createTask(taskSpec{Builder: "linux64 mozilla-central build", Branch: "https://hg.mozilla.org/mozilla-central"})
	m := g1WaitPending(e, pending, taskID, 0)
	g1Publish(e, m.Exchange, m.RoutingKey, m.Body, 2)

	st := e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)

	if brids := e.buildRequests(taskID); len(brids) != 1 {
		t.Errorf("BuildRequests %v, want exactly one", brids)
	}
	if n := len(e.allCalls(taskID, "claimTask")); n != 1 {
		t.Errorf("claimTask called %d times, want once", n)
	}
	if n := len(e.allCalls(taskID, "reportCompleted")); n != 1 {
		t.Errorf("reportCompleted called %d times, want once", n)
	}
	if len(st.Runs) != 1 {
		t.Errorf("task has %d runs, want 1: %+v", len(st.Runs), st.Runs)
	}
	// All three copies reached the one workflow run, which dropped two.
	d := g1Describe(e, taskID, "")
	info := d.GetWorkflowExecutionInfo()
	if info.GetFirstRunId() != info.GetExecution().GetRunId() {
		t.Errorf("task-%s has run %s after first run %s, want a single run", taskID,
			info.GetExecution().GetRunId(), info.GetFirstRunId())
	}
	if n := g1SignalCount(g1History(e, taskID, ""), signals.TaskPendingName); n != 3 {
		t.Errorf("the workflow received task-pending %d times, want the 3 deliveries", n)
	}
}

// Scenario 5: the started event is lost (the bridge claims the run when
// the build has finished, then resolves it), or arrives after log_uploaded
// (the task is claimed at finish and resolved once; the late started event
// changes nothing).
func TestStartedEventLostOrLate(t *testing.T) {
	t.Parallel()
	const lost, late = "linux64 mozilla-aurora build", "linux64 mozilla-aurora test reftest"
	e := newEnv(t, envOptions{
		Script: bbsim.ByBuilder(map[string][]bbsim.Attempt{
			lost: {{Result: bbsim.SUCCESS, Duration: time.Second, DropStarted: true}},
			late: {{Result: bbsim.SUCCESS, Duration: time.Second, LogUploadedBeforeStarted: true}},
		}),
		// The BuildRequest check would also find the running build; a slow
		// one leaves the finished event to do it.
		Config: func(c map[string]any) { c["reflector"] = map[string]any{"interval": 60} },
	})
	const branch = "https://hg.mozilla.org/releases/mozilla-aurora"
	lostTask := e.createTask(taskSpec{Builder: lost, Branch: branch})
	lateTask := e.createTask(taskSpec{Builder: late, Branch: branch})

	for _, taskID := range []string{lostTask, lateTask} {
		st := e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
		e.waitWorkflowClosed(taskID, 30*time.Second)
		if len(st.Runs) != 1 {
			t.Errorf("task %s has %d runs, want 1: %+v", taskID, len(st.Runs), st.Runs)
		}
		brids := e.buildRequests(taskID)
		if len(brids) != 1 {
			t.Fatalf("task %s: BuildRequests %v, want exactly one", taskID, brids)
		}
		builds := g1BuildsOf(e.sim, brids[0])
		if len(builds) != 1 || builds[0].Finished.IsZero() {
			t.Fatalf("task %s: builds %+v, want one finished build", taskID, builds)
		}
		claims := e.allCalls(taskID, "claimTask")
		if len(claims) != 1 {
			t.Fatalf("task %s: claimTask called %d times, want once", taskID, len(claims))
		}
		// The bridge can only have claimed once the build finished: it
		// heard nothing of the build before log_uploaded.
		if claims[0].At.Before(builds[0].Finished) {
			t.Errorf("task %s claimed at %s, before its build finished at %s", taskID,
				claims[0].At.Format(time.RFC3339Nano), builds[0].Finished.Format(time.RFC3339Nano))
		}
		g1CheckArtifacts(e, taskID, 0, taskID, builds[0].LogURL)
	}

	// The late started event is handled (acknowledged) by the starter, and
	// neither calls TC nor starts the finished task's workflow again.
	g1WaitQueueDrained(e, "queue/bbb-e2e/started", 1)
	if n := len(e.allCalls(lateTask, "reportCompleted")); n != 1 {
		t.Errorf("late-started task: reportCompleted called %d times, want once", n)
	}
	if n := len(e.allCalls(lateTask, "claimTask")); n != 1 {
		t.Errorf("late-started task: claimTask called %d times after the started event, want once", n)
	}
	info := g1Describe(e, lateTask, "").GetWorkflowExecutionInfo()
	if info.GetFirstRunId() != info.GetExecution().GetRunId() ||
		info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("late-started task's workflow: run %s (first %s) %s, want its single run completed",
			info.GetExecution().GetRunId(), info.GetFirstRunId(), info.GetStatus())
	}
}

// Scenario 6: Buildbot merges two tasks' BuildRequests (same builder and
// branch) into one build with request_ids [a, b]; only the lead request's
// properties reach the build. Both tasks are claimed and completed, each
// run with its own artifacts.
func TestMergedBuildCompletesBothTasks(t *testing.T) {
	t.Parallel()
	const builder = "b2g_mozilla-central_emulator_dep"
	// The env's masters serve another builder only: the merging masters
	// start once both requests are in the DB, as a master whose poll finds
	// both pending would.
	e := newEnv(t, envOptions{Builders: []string{"linux64 unused builder"}})
	branch := "https://hg.mozilla.org/mozilla-central"
	a := e.createTask(taskSpec{Builder: builder, Branch: branch, Revision: "0a1b2c3d4e5f"})
	b := e.createTask(taskSpec{Builder: builder, Branch: branch, Revision: "0a1b2c3d4e5f"})
	brOf := map[string]int64{}
	for _, taskID := range []string{a, b} {
		e.waitFor(20*time.Second, "the BuildRequest of task "+taskID, func() bool { return len(e.buildRequests(taskID)) == 1 })
		brOf[taskID] = e.buildRequests(taskID)[0]
	}
	merger := g1StartSim(e, bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: time.Second, Merge: true}))

	for _, taskID := range []string{a, b} {
		e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
		e.waitWorkflowClosed(taskID, 30*time.Second)
	}
	builds := merger.Builds()
	if len(builds) != 1 {
		t.Fatalf("builds %+v, want one merged build", builds)
	}
	got := slices.Sorted(slices.Values(builds[0].BRIDs))
	want := slices.Sorted(slices.Values([]int64{brOf[a], brOf[b]}))
	if !slices.Equal(got, want) {
		t.Fatalf("the build served BuildRequests %v, want %v", builds[0].BRIDs, want)
	}
	lead := a
	if builds[0].BRIDs[0] == brOf[b] {
		lead = b
	}
	for _, taskID := range []string{a, b} {
		if n := len(e.calls(taskID, "claimTask")); n != 1 {
			t.Errorf("task %s claimed %d times, want once", taskID, n)
		}
		if n := len(e.calls(taskID, "reportCompleted")); n != 1 {
			t.Errorf("task %s: reportCompleted %d times, want once", taskID, n)
		}
		if r := g1RequestRow(e, brOf[taskID]); r.Complete != 1 || r.Results != bbsim.SUCCESS {
			t.Errorf("task %s: BuildRequest row %+v, want complete with SUCCESS", taskID, r)
		}
		// The build's properties: the lead request's taskId, and
		// request_ids naming both requests, which is how the user of
		// either task finds the build that served it.
		g1CheckArtifacts(e, taskID, 0, lead, builds[0].LogURL)
		for _, art := range e.queue.Artifacts(taskID, 0) {
			if art.Name != "public/properties.json" {
				continue
			}
			var props map[string][]json.RawMessage
			_ = json.Unmarshal(art.Body, &props)
			var ids []int64
			if v := props["request_ids"]; len(v) == 2 {
				_ = json.Unmarshal(v[0], &ids)
			}
			if !slices.Equal(slices.Sorted(slices.Values(ids)), want) {
				t.Errorf("task %s: properties.json request_ids %v, want %v", taskID, ids, want)
			}
		}
	}
}

// Scenario 22: a late duplicate task-pending for a task that has completed
// changes nothing (no BuildRequest, no TC call that changes the task); a
// user's rerunTask of the completed task gets a new BuildRequest for run 1,
// submitted at run 1's scheduled time, which is built and completed.
func TestLatePendingIsIgnoredButRerunBuildsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	pending := g1TapTaskPending(e)
	taskID := e.createTask(taskSpec{Builder: "linux64 mozilla-esr52 build", Branch: "https://hg.mozilla.org/releases/mozilla-esr52"})
	m0 := g1WaitPending(e, pending, taskID, 0)
	e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	firstRun := g1Describe(e, taskID, "").GetWorkflowExecutionInfo().GetExecution().GetRunId()
	changes := len(e.changingCalls(taskID))

	// The late duplicate: a workflow run looks at TC, finds the task
	// resolved, and ends without a trace in TC or Buildbot.
	g1Publish(e, m0.Exchange, m0.RoutingKey, m0.Body, 1)
	e.waitFor(30*time.Second, "the late task-pending handled by a run of its own", func() bool {
		info := g1Describe(e, taskID, "").GetWorkflowExecutionInfo()
		return info.GetExecution().GetRunId() != firstRun && info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	if calls := e.changingCalls(taskID); len(calls) != changes {
		t.Errorf("after the late task-pending the bridge made %v", calls[changes:])
	}
	if brids := e.buildRequests(taskID); len(brids) != 1 {
		t.Errorf("after the late task-pending: BuildRequests %v, want still one", brids)
	}
	if st := e.status(taskID); len(st.Runs) != 1 || st.State != "completed" {
		t.Errorf("after the late task-pending the task is %s with %d runs", st.State, len(st.Runs))
	}

	// The user's rerun.
	if _, err := e.tc.RerunTask(taskID); err != nil {
		t.Fatalf("rerunTask: %v", err)
	}
	st := e.waitRunState(taskID, 1, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	if r := st.Runs[1]; r.ReasonCreated != "rerun" {
		t.Errorf("run 1 created for %q, want rerun", r.ReasonCreated)
	}
	brids := e.buildRequests(taskID)
	if len(brids) != 2 {
		t.Fatalf("BuildRequests %v, want the first and one for the rerun", brids)
	}
	for i, brid := range brids {
		if r := g1RequestRow(e, brid); r.Complete != 1 || r.Results != bbsim.SUCCESS || r.Builds != 1 {
			t.Errorf("BuildRequest %d (#%d): %+v, want complete with SUCCESS after one build", brid, i, r)
		}
	}
	var submitted int64
	if err := e.db.SQL().QueryRowContext(e.ctx, `SELECT submitted_at FROM buildrequests WHERE id = ?`, brids[1]).Scan(&submitted); err != nil {
		t.Fatal(err)
	}
	if want := time.Time(st.Runs[1].Scheduled).Unix(); submitted != want {
		t.Errorf("the rerun's BuildRequest was submitted at %d, want run 1's scheduled time %d", submitted, want)
	}
	for _, method := range []string{"claimTask", "reportCompleted"} {
		var runs []string
		for _, c := range e.allCalls(taskID, method) {
			runs = append(runs, fmt.Sprint(c.RunID))
		}
		if !slices.Equal(runs, []string{"0", "1"}) {
			t.Errorf("%s calls for runs %v, want one for run 0 and one for run 1", method, runs)
		}
	}
	builds := g1BuildsOf(e.sim, brids[1])
	if len(builds) != 1 {
		t.Fatalf("builds of the rerun's BuildRequest: %+v", builds)
	}
	g1CheckArtifacts(e, taskID, 1, taskID, builds[0].LogURL)
}
