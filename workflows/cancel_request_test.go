package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// A cancel request (Web UI button, `temporal workflow cancel`, the client's
// CancelWorkflow) must do what the operator's cancel signal does, in every
// phase, and then end the workflow.

// cancelRequest asks for the workflow's cancellation at workflow time t0+d.
func (w *world) cancelRequest(d time.Duration) {
	w.at(d, func() { w.env.CancelWorkflow() })
}

// requireCancelled asserts the workflow closed as Canceled after carrying
// the request out, and that its end state says an operator cancelled it.
func (w *world) requireCancelled() {
	w.t.Helper()
	if !w.env.IsWorkflowCompleted() {
		w.t.Fatalf("workflow did not end; calls: %v", w.callNames())
	}
	var canceled *temporal.CanceledError
	if err := w.env.GetWorkflowError(); !errors.As(err, &canceled) {
		w.t.Fatalf("workflow ended with %v, want Canceled; calls: %v", err, w.callNames())
	}
	st := w.query()
	if st.Phase != signals.PhaseCancelled {
		w.t.Errorf("phase %q, want %q", st.Phase, signals.PhaseCancelled)
	}
	if w.attrs["TaskState"] != signals.PhaseCancelled {
		w.t.Errorf("TaskState attribute %v, want %q", w.attrs["TaskState"], signals.PhaseCancelled)
	}
	if !strings.Contains(strings.Join(st.LastEvents, "\n"), "cancellation requested through Temporal") {
		w.t.Errorf("last events do not show the cancel request: %q", st.LastEvents)
	}
}

func (w *world) requireRunCanceled(runID int) {
	w.t.Helper()
	if r := w.run(runID); r.State != runException || r.ReasonResolved != reasonCanceled {
		w.t.Errorf("TC run %d is %s/%s, want exception/canceled", runID, r.State, r.ReasonResolved)
	}
}

func TestCancelRequestWhileValidating(t *testing.T) {
	w := newWorld(t)
	// PrepareTask's first answer is a transient error, so the request
	// arrives while the task is still being validated (between retries).
	var mu sync.Mutex
	failed := false
	w.override["PrepareTask"] = func(any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if !failed {
			failed = true
			return activities.Prepared{}, errors.New("TC answered 503")
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.prepared, nil
	}
	w.cancelRequest(0)
	w.start(0)
	w.requireCancelled()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "PrepareTask", "InjectBuildRequest",
		"ReadBuildRequest", "CancelBuildRequest", "CancelTask"})
	w.requireRunCanceled(0)
}

func TestCancelRequestWhilePending(t *testing.T) {
	w := newWorld(t)
	w.cancelRequest(20 * time.Second)
	w.start(0)
	w.requireCancelled()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "CancelBuildRequest", "CancelTask"})
	w.requireCallAt("CancelBuildRequest", 0, 20*time.Second)
	w.requireRunCanceled(0)
}

func TestCancelRequestWhileRunning(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.cancelRequest(100 * time.Second)
	// TC publishes the exception our cancelTask caused, Buildbot the
	// build's CANCELLED finish.
	w.signal(101*time.Second, signals.TaskExceptionName, exception(0, reasonCanceled))
	w.buildFinishesAt(130*time.Second, 8, signals.ResultCancelled)
	cancelling := w.queryAt(110 * time.Second)
	w.start(0)
	w.requireCancelled()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds", "CancelTask", "CreateArtifacts"})
	w.requireCallAt("CancelBuilds", 0, 100*time.Second)
	w.requireCallAt("CreateArtifacts", 0, 130*time.Second)
	if cancelling.Phase != signals.PhaseCancelling {
		t.Errorf("phase while waiting for the CANCELLED finish %q, want cancelling", cancelling.Phase)
	}
	w.requireRunCanceled(0)
}

func TestCancelRequestWhileRunningEndsAfterGraceWithoutFinish(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.cancelRequest(100 * time.Second)
	w.start(0)
	w.requireCancelled()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds", "CancelTask"})
	if ended := w.env.Now().Sub(t0) - settleDelay; ended != 100*time.Second+testTiming.FinishedGrace {
		t.Errorf("workflow ended at %s, want FinishedGrace after the request (%s)", ended, 100*time.Second+testTiming.FinishedGrace)
	}
}

func TestCancelRequestWhileCancellingAddsNothing(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.tcCancelsAt(100 * time.Second)
	w.cancelRequest(110 * time.Second)
	w.buildFinishesAt(150*time.Second, 8, signals.ResultCancelled)
	w.start(0)
	w.requireCancelled()
	// TC's cancel was being carried out: one self-serve call, no cancelTask.
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CancelBuilds", "CreateArtifacts"})
	w.requireCallAt("CreateArtifacts", 0, 150*time.Second)
}

func TestCancelRequestDuringResolutionCancelsNothing(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.buildFinishesAt(45*time.Second, 8, signals.ResultSuccess)
	w.cancelRequest(45 * time.Second)
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	if r := w.run(0); r.State != runCompleted {
		t.Errorf("TC run 0 is %s/%s, want completed", r.State, r.ReasonResolved)
	}
	if st := w.query(); st.Phase != signals.PhaseResolved {
		t.Errorf("phase %q, want resolved", st.Phase)
	}
}

func TestOperatorCancelSignalEndsCancelled(t *testing.T) {
	w := newWorld(t)
	w.signal(20*time.Second, signals.CancelName, signals.Cancel{Reason: "bad push"})
	w.start(0)
	w.requireDone()
	if st := w.query(); st.Phase != signals.PhaseCancelled {
		t.Errorf("phase %q, want %q", st.Phase, signals.PhaseCancelled)
	}
	if w.attrs["TaskState"] != signals.PhaseCancelled {
		t.Errorf("TaskState attribute %v, want %q", w.attrs["TaskState"], signals.PhaseCancelled)
	}
}

func TestSweepEndsOnCancelRequest(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(SweepWorkflow, workflow.RegisterOptions{Name: signals.SweepWorkflowType})
	var mu sync.Mutex
	passes := 0
	env.OnActivity(a.Sweep, mock.Anything, mock.Anything).Return(func(context.Context, activities.Watermark) (activities.SweepResult, error) {
		mu.Lock()
		defer mu.Unlock()
		passes++
		return activities.SweepResult{}, nil
	})
	env.RegisterDelayedCallback(env.CancelWorkflow, 12*time.Second)
	env.ExecuteWorkflow(signals.SweepWorkflowType, activities.Watermark{}, 5*time.Second)
	if !env.IsWorkflowCompleted() {
		t.Fatal("sweep did not end")
	}
	var canceled *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Errorf("sweep ended with %v, want Canceled", err)
	}
	if passes != 3 {
		t.Errorf("%d passes before the cancel at 12 s, want 3 (0 s, 5 s, 10 s)", passes)
	}
}
