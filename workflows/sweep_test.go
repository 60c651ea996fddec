package workflows

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

func TestSweepSignalsCancelledRequestsAndCarriesItsWatermark(t *testing.T) {
	old := sweepIterations
	sweepIterations = 3
	t.Cleanup(func() { sweepIterations = old })

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(SweepWorkflow, workflow.RegisterOptions{Name: signals.SweepWorkflowType})

	first := activities.Watermark{CompleteAt: 1714557700, BuildRequestID: 102,
		Seen: []activities.SeenRequest{{ID: 101, CompleteAt: 1714557690}, {ID: 102, CompleteAt: 1714557700}}}
	var mu sync.Mutex
	var froms []activities.Watermark
	var at []time.Duration
	env.OnActivity(a.Sweep, mock.Anything, mock.Anything).Return(func(_ context.Context, from activities.Watermark) (activities.SweepResult, error) {
		mu.Lock()
		defer mu.Unlock()
		froms = append(froms, from)
		at = append(at, env.Now().Sub(t0))
		switch len(froms) {
		case 1:
			return activities.SweepResult{Next: first, Cancelled: []activities.CancelledRequest{
				{TaskID: "Aa1Bb2Cc3Dd4Ee5Ff6Gg7w", BuildRequestID: 101},
				{TaskID: "Hh8Ii9Jj0Kk1Ll2Mm3Nn4w", BuildRequestID: 102},
			}}, nil
		}
		return activities.SweepResult{Next: from, Adopted: 1}, nil
	})
	env.OnSignalExternalWorkflow(mock.Anything, "task-Aa1Bb2Cc3Dd4Ee5Ff6Gg7w", "", signals.BuildRequestCancelledName,
		signals.BuildRequestCancelled{EventID: "brcancelled:101", BuildRequestID: 101}).Return(nil).Once()
	// The second task's workflow is already closed.
	env.OnSignalExternalWorkflow(mock.Anything, "task-Hh8Ii9Jj0Kk1Ll2Mm3Nn4w", "", signals.BuildRequestCancelledName,
		signals.BuildRequestCancelled{EventID: "brcancelled:102", BuildRequestID: 102}).
		Return(&temporal.UnknownExternalWorkflowExecutionError{}).Once()

	// The interval as the worker passes it, a time.Duration: JSON nanoseconds.
	env.ExecuteWorkflow(signals.SweepWorkflowType, activities.Watermark{}, 45*time.Second)

	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("sweep ended with %v, want ContinueAsNew", err)
	}
	env.AssertExpectations(t)
	if can.WorkflowType.Name != signals.SweepWorkflowType {
		t.Errorf("continued as %q", can.WorkflowType.Name)
	}
	var next activities.Watermark
	var interval signals.Duration
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next, &interval); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(next, first) || interval != signals.Duration(45*time.Second) {
		t.Errorf("continued with watermark %+v every %s, want %+v every 45s", next, interval, first)
	}
	// What the Web UI shows as the next run's input.
	if shown := string(can.Input.GetPayloads()[1].GetData()); shown != `"45s"` {
		t.Errorf("the next run's interval shows as %s, want \"45s\"", shown)
	}
	mu.Lock()
	defer mu.Unlock()
	wantFroms := []activities.Watermark{{}, first, first}
	wantAt := []time.Duration{0, 45 * time.Second, 90 * time.Second}
	for i := range wantFroms {
		if i >= len(froms) || !reflect.DeepEqual(froms[i], wantFroms[i]) || at[i] != wantAt[i] {
			t.Fatalf("sweep passes from %v at %v, want from %v at %v", froms, at, wantFroms, wantAt)
		}
	}
}
