package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/signals"
	"github.com/bbbridge/buildbot-bridge/workflows"
)

// g1Flood is how many duplicate started events are delivered: with the
// history the task already has, they take it past the 4,096 events at
// which the server suggests ContinueAsNew (REFERENCE §E).
const g1Flood = 4200

// Scenario 19: a long build whose task workflow continues as new loses no
// signal across it. While the worker is down (a deploy), Pulse redelivers
// the build's started event thousands of times and the build finishes in
// the middle of that storm; all of it is waiting for the worker when it
// comes back. The history is now past the server's ContinueAsNew
// suggestion, so the workflow hands over to a new run, carrying every
// signal it had received but not handled (repeats are dropped on arrival);
// the new run completes the task from the finished event, with the claim it
// inherited.
func TestContinueAsNewLosesNoSignal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Script: bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: bbsim.Forever})})
	startedTap := g1NewTap(e, e.cfg.BBListener.PulseExchange, "build.*.*.started")
	taskID := e.createTask(taskSpec{Builder: "linux64 mozilla-central pgo build", Branch: "https://hg.mozilla.org/mozilla-central"})

	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	var brids []int64
	e.waitFor(10*time.Second, "the BuildRequest", func() bool { brids = e.buildRequests(taskID); return len(brids) == 1 })
	builds := g1BuildsOf(e.sim, brids[0])
	if len(builds) != 1 {
		t.Fatalf("builds %+v, want one running build", builds)
	}
	started := startedTap.wait(e, "the build's started event", func(m g1Message) bool { return strings.HasSuffix(m.RoutingKey, ".started") })
	first := g1Describe(e, taskID, "").GetWorkflowExecutionInfo()
	firstRun := first.GetExecution().GetRunId()

	e.stopWorker()
	g1Publish(e, started.Exchange, started.RoutingKey, started.Body, g1Flood/2)
	if err := e.sim.FinishBuild(builds[0].ID, bbsim.SUCCESS); err != nil {
		t.Fatal(err)
	}
	g1Publish(e, started.Exchange, started.RoutingKey, started.Body, g1Flood/2)
	// One event per signal (and one workflow task scheduled) while no
	// worker runs: wait until the starter has delivered all of them.
	want := first.GetHistoryLength() + g1Flood + 1 + 1
	e.waitFor(60*time.Second, "every duplicate and the finished event delivered", func() bool {
		return g1Describe(e, taskID, firstRun).GetWorkflowExecutionInfo().GetHistoryLength() >= want
	})
	h1 := g1History(e, taskID, firstRun)
	if n, f := g1SignalCount(h1, signals.BuildStartedName), g1SignalCount(h1, signals.BuildFinishedName); n != g1Flood+1 || f != 1 {
		t.Fatalf("first run received %d build-started and %d build-finished signals, want %d and 1", n, f, g1Flood+1)
	}
	e.startWorker()

	st := e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)

	// The first run continued as new, handing every signal over.
	h1 = g1History(e, taskID, firstRun)
	last := h1.Events[len(h1.Events)-1]
	can := last.GetWorkflowExecutionContinuedAsNewEventAttributes()
	if last.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW || can == nil {
		t.Fatalf("the first run ended with %s, want ContinuedAsNew", last.GetEventType())
	}
	if g1SignalCount(h1, signals.BuildFinishedName) != 1 {
		t.Errorf("the finished event was not received by the first run")
	}
	h2 := g1History(e, taskID, can.GetNewExecutionRunId())
	var resumed workflows.ResumeState
	args := h2.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(args) != 2 || json.Unmarshal(args[1].GetData(), &resumed) != nil {
		t.Fatalf("the new run's input is not (start, state): %d payloads", len(args))
	}
	var finished, duplicates int
	for _, ev := range resumed.Inbox {
		switch {
		case ev.Finished != nil:
			finished++
		case ev.Started != nil:
			duplicates++
		}
	}
	// The finished event crossed over; the thousands of repeats of the
	// started event did not (they are dropped on arrival, so the inbox
	// carried across stays small), except one if the first run had not
	// handled the started event yet.
	if finished != 1 || duplicates > 1 {
		t.Errorf("the new run inherited %d finished and %d started events, want 1 and at most 1",
			finished, duplicates)
	}
	latest := g1Describe(e, taskID, "").GetWorkflowExecutionInfo()
	if latest.GetExecution().GetRunId() == firstRun || latest.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("latest run %s is %s, want a new run, completed", latest.GetExecution().GetRunId(), latest.GetStatus())
	}

	// And the task ended as if nothing had happened.
	if len(st.Runs) != 1 {
		t.Errorf("task has %d runs, want 1: %+v", len(st.Runs), st.Runs)
	}
	if brids := e.buildRequests(taskID); len(brids) != 1 {
		t.Errorf("BuildRequests %v, want exactly one", brids)
	}
	if n := len(e.allCalls(taskID, "claimTask")); n != 1 {
		t.Errorf("claimTask called %d times, want once (the claim carries across ContinueAsNew)", n)
	}
	if n := len(e.allCalls(taskID, "reportCompleted")); n != 1 {
		t.Errorf("reportCompleted called %d times, want once", n)
	}
	g1CheckArtifacts(e, taskID, 0, taskID, g1BuildsOf(e.sim, brids[0])[0].LogURL)
}
