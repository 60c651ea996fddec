package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

func TestContinueAsNewCarriesStateAndDrainedSignals(t *testing.T) {
	old := signalLimit
	signalLimit = 3
	t.Cleanup(func() { signalLimit = old })

	w := newWorld(t)
	// Three signals arrive together: the run reaches its signal limit with
	// some of them still in their channels.
	w.at(30*time.Second, func() {
		w.env.SignalWorkflow(signals.BuildStartedName, started(brid, 14))
		w.env.SignalWorkflow(signals.TaskExceptionName, exception(0, "intermittent-task"))
		w.env.SignalWorkflow(signals.BuildFinishedName, finished(brid, 14, signals.ResultSuccess))
	})
	w.start(0)

	var can *workflow.ContinueAsNewError
	if err := w.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want ContinueAsNew", err)
	}
	if can.WorkflowType.Name != signals.TaskWorkflowType {
		t.Errorf("continued as %q", can.WorkflowType.Name)
	}
	var start signals.TaskStart
	var state ResumeState
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &start, &state); err != nil {
		t.Fatalf("decode ContinueAsNew input: %v", err)
	}
	if start.TaskID != taskID || start.Timing != testTiming {
		t.Errorf("carried start %+v", start)
	}
	if len(state.Inbox) == 0 {
		t.Fatal("no signal was drained into the state")
	}
	// Every signal is either handled (seen) or waiting in the inbox.
	known := map[string]bool{}
	for _, id := range state.Seen {
		known[id] = true
	}
	for _, ev := range state.Inbox {
		known[ev.id()] = true
	}
	for _, id := range []string{signals.PendingEventID(0), signals.StartedEventID(brid, master, 14),
		signals.ExceptionEventID(0, "intermittent-task"), signals.FinishedEventID(brid, master, 14)} {
		if !known[id] {
			t.Errorf("signal %s was lost across ContinueAsNew (seen %v, inbox %d)", id, state.Seen, len(state.Inbox))
		}
	}
	if state.BuildRequestID != brid || state.RunID != 0 {
		t.Errorf("carried state %+v", state)
	}

	// The next run picks up where this one stopped: across both runs each
	// step happens exactly once, and the build's result is reported by
	// the new run from a drained signal.
	w.newEnv(w.env.Now())
	w.env.ExecuteWorkflow(signals.TaskWorkflowType, start, &state)
	w.requireDone()
	equalStrings(t, "activities of both runs", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s", r.State)
	}
}

func TestContinueAsNewRecreatesTheReclaimTimer(t *testing.T) {
	old := signalLimit
	signalLimit = 3
	t.Cleanup(func() { signalLimit = old })

	w := newWorld(t)
	w.claimPeriod = 30 * time.Second
	w.signal(30*time.Second, signals.BuildStartedName, started(brid, 15))
	w.signal(40*time.Second, signals.TaskExceptionName, exception(0, "intermittent-task"))
	w.start(0)
	var can *workflow.ContinueAsNewError
	if err := w.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want ContinueAsNew", err)
	}
	var start signals.TaskStart
	var state ResumeState
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &start, &state); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !state.Claimed || !state.TakenUntil.Equal(t0.Add(60*time.Second)) {
		t.Fatalf("carried claim %+v", state)
	}
	w.newEnv(w.env.Now())
	w.signal(65*time.Second, signals.BuildFinishedName, finished(brid, 15, signals.ResultSuccess))
	w.env.ExecuteWorkflow(signals.TaskWorkflowType, start, &state)
	w.requireDone()
	w.requireCallAt("ReclaimRun", 0, 50*time.Second)
	if got := w.callsOf("ReportCompleted"); len(got) != 1 || got[0].Arg.(activities.RunRef).RunID != 0 {
		t.Errorf("reportCompleted calls %v", got)
	}
}
