package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// TC's reasons for resolving a run that mean the task must stop in Buildbot.
const (
	reasonCanceled         = "canceled"
	reasonDeadlineExceeded = "deadline-exceeded"
)

// onException handles TC resolving a run as exception. Only a cancel or a
// deadline of our current run stops the work in Buildbot; other reasons, and
// a message without reasonResolved, are ignored as the original did.
func (t *task) onException(ctx workflow.Context, ev signals.TaskException) error {
	if ev.RunID != t.s.RunID {
		t.note(ctx, "exception for run %d, not the current run %d: ignored", ev.RunID, t.s.RunID)
		return nil
	}
	if ev.Reason != reasonCanceled && ev.Reason != reasonDeadlineExceeded {
		t.note(ctx, "exception reason %q needs nothing from Buildbot: ignored", ev.Reason)
		return nil
	}
	if t.s.Phase == signals.PhaseCancelling {
		return nil
	}
	t.s.EndedBecause = "TC ended the run: " + ev.Reason
	return t.stopInBuildbot(ctx)
}

// onBuildRequestCancelled handles the sweep's report that the BuildRequest
// was cancelled in Buildbot before it started: cancel the task in TC.
func (t *task) onBuildRequestCancelled(ctx workflow.Context, ev signals.BuildRequestCancelled) error {
	if !t.ours(ctx, ev.BuildRequestID) {
		return nil
	}
	return t.cancelInTC(ctx)
}

// onCancel handles an operator's manual cancel: both sides, then like a TC
// cancel.
func (t *task) onCancel(ctx workflow.Context, c signals.Cancel) error {
	if workflow.GetVersion(ctx, versionOperatorCancelEnds, workflow.DefaultVersion, 1) >= 1 {
		t.s.CancelledByOperator = true
		if t.s.Phase == signals.PhaseCancelling {
			// Buildbot was asked already and TC's run is over: asking
			// again would only repeat the self-serve call.
			t.note(ctx, "already cancelling: waiting for Buildbot's CANCELLED finish")
			return nil
		}
	}
	running, err := t.cancelInBuildbot(ctx)
	if err != nil {
		return err
	}
	if !t.s.RunOver {
		t.s.EndedBecause = "an operator cancelled the task: " + c.Reason
		_, err := callTC[activities.TaskStatus](ctx, t, a.CancelTask, t.id)
		if err != nil && refusal(err) == "" {
			return err
		}
		t.noteAnswer(ctx, "cancelTask", err)
	}
	t.s.RunOver = true
	return t.waitForCancelledFinish(ctx, running)
}

// stopInBuildbot cancels the BuildRequest (not started) or its builds
// (running) after TC ended the run.
func (t *task) stopInBuildbot(ctx workflow.Context) error {
	t.s.Claimed, t.s.RunOver = false, true
	running, err := t.cancelInBuildbot(ctx)
	if err != nil {
		return err
	}
	return t.waitForCancelledFinish(ctx, running)
}

// waitForCancelledFinish keeps a task whose build was running until
// Buildbot's CANCELLED finish arrives (TC accepts artifacts for 25 minutes
// after an exception) or FinishedGrace passes; a task with no build ends.
func (t *task) waitForCancelledFinish(ctx workflow.Context, running bool) error {
	t.s.Claimed = false
	if !running {
		t.end(signals.PhaseResolved)
		return nil
	}
	t.s.Phase = signals.PhaseCancelling
	t.s.WaitUntil = workflow.Now(ctx).Add(t.timing.FinishedGrace)
	return nil
}

// cancelInTC cancels the task in TC because Buildbot will not build it.
func (t *task) cancelInTC(ctx workflow.Context) error {
	if !t.s.RunOver {
		_, err := callTC[activities.TaskStatus](ctx, t, a.CancelTask, t.id)
		if err != nil && refusal(err) == "" {
			return err
		}
		t.noteAnswer(ctx, "cancelTask", err)
	}
	t.end(signals.PhaseResolved)
	return nil
}

// cancelInBuildbot cancels the task's BuildRequest through self-serve: the
// request if no build of it runs, its builds otherwise. It reports whether a
// build was running. A missed started event is caught by reading the row.
func (t *task) cancelInBuildbot(ctx workflow.Context) (bool, error) {
	if t.s.BuildRequestID == 0 || (t.s.RequestComplete && !t.s.BuildRunning) {
		return false, nil
	}
	running := t.s.BuildRunning
	if !running {
		row, err := call[activities.BuildRequestState](ctx, schedulerDB, a.ReadBuildRequest, t.s.BuildRequestID)
		if err != nil {
			return false, err
		}
		if row.Complete {
			t.s.RequestComplete = true
			return false, nil
		}
		running = row.RunningBuilds > 0
	}
	fn, what := a.CancelBuildRequest, "request"
	if running {
		fn, what = a.CancelBuilds, "builds"
	}
	res, err := call[activities.CancelResult](ctx, selfServe, fn, t.s.BuildRequestID)
	if refusal(err) == activities.ErrSelfServeRejected {
		// Asking again would be refused again; the rest of the cancel
		// (TC's side, the wait for a CANCELLED finish) still goes on, and
		// the operator sees why in the state query.
		t.note(ctx, "self-serve refused to cancel the %s of BuildRequest %d: %v", what, t.s.BuildRequestID, err)
		return running, nil
	}
	if err != nil {
		return false, err
	}
	t.note(ctx, "asked self-serve to cancel the %s of BuildRequest %d (%d requests)", what, t.s.BuildRequestID, res.Requested)
	return running, nil
}
