package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// signalLimit is how many signals one run receives before it continues as
// new. The server refuses signals beyond 10,000 per run, and that limit is
// not part of the SDK's ContinueAsNew suggestion. Tests lower it.
var signalLimit = 9000

func (t *task) continueAsNewDue(ctx workflow.Context) bool {
	return t.received >= signalLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// continueAsNew hands the task to a new run with a fresh history. Signals
// already delivered to this run would be lost with it, so every channel is
// drained into the inbox first; the timers are re-created from the state.
func (t *task) continueAsNew(ctx workflow.Context) error {
	if err := t.settle(ctx); err != nil {
		return err
	}
	t.drainSignals()
	t.note(ctx, "continuing as new after %d signals, %d events waiting", t.received, len(t.s.Inbox))
	return workflow.NewContinueAsNewError(ctx, TaskWorkflow, t.start, t.s)
}
