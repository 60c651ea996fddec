package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// sweepIterations is how many passes one run of the sweep makes before it
// continues as new (about 6 history events each). Tests lower it.
var sweepIterations = 500

// SweepWorkflow finds, every interval, the BuildRequests of ours that were
// cancelled in Buildbot before they started (and hands a previous bridge's
// requests to adopting task workflows, inside the Sweep activity), and tells
// each one's task workflow. from is how far the scheduler DB has been read,
// so each request is reported once. It runs under the fixed ID
// signals.SweepWorkflowID and is registered as signals.SweepWorkflowType.
// interval is a signals.Duration so the Web UI shows the input as "1m0s";
// a time.Duration (nanoseconds, as earlier bridges started it) still reads.
func SweepWorkflow(ctx workflow.Context, from activities.Watermark, interval signals.Duration) error {
	if interval <= 0 {
		interval = signals.Duration(signals.DefaultTiming.CheckInterval)
	}
	logger := workflow.GetLogger(ctx)
	for i := 0; i < sweepIterations; i++ {
		res, err := call[activities.SweepResult](ctx, sweepPass, a.Sweep, from)
		if err != nil {
			return err
		}
		signalCancelled(ctx, res.Cancelled)
		countSweep(ctx, res)
		// The activity owns the watermark's meaning (it re-reads a settling
		// window), so its answer is taken as is.
		from = res.Next
		if len(res.Cancelled) > 0 || res.Adopted > 0 {
			logger.Info("sweep pass", "Cancelled", len(res.Cancelled), "Adopted", res.Adopted,
				"CompleteAt", from.CompleteAt, "BuildRequestId", from.BuildRequestID)
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		if err := workflow.Sleep(ctx, time.Duration(interval)); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, SweepWorkflow, from, interval)
}

// signalCancelled tells each task workflow its BuildRequest was cancelled.
// The signals go out together; a task whose workflow is gone is already
// done, and a task that misses the signal still finds the cancellation in
// its own BuildRequest checks.
func signalCancelled(ctx workflow.Context, cancelled []activities.CancelledRequest) {
	logger := workflow.GetLogger(ctx)
	futures := make([]workflow.Future, len(cancelled))
	for i, c := range cancelled {
		futures[i] = workflow.SignalExternalWorkflow(ctx, signals.TaskWorkflowID(c.TaskID), "",
			signals.BuildRequestCancelledName, signals.BuildRequestCancelled{
				EventID:        signals.CancelledEventID(c.BuildRequestID),
				BuildRequestID: c.BuildRequestID,
			})
	}
	for i, f := range futures {
		err := f.Get(ctx, nil)
		var notFound *temporal.UnknownExternalWorkflowExecutionError
		switch {
		case err == nil:
		case errors.As(err, &notFound):
			logger.Info("task workflow already done", "TaskId", cancelled[i].TaskID,
				"BuildRequestId", cancelled[i].BuildRequestID)
		default:
			logger.Warn("could not signal a cancelled BuildRequest", "TaskId", cancelled[i].TaskID,
				"BuildRequestId", cancelled[i].BuildRequestID, "Error", err)
		}
	}
}
