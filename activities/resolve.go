package activities

import (
	"context"
	"strconv"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// ReportCompleted resolves the run as completed (Buildbot SUCCESS). A
// repeat on a run already completed is answered 200 by the queue, so a
// retried activity succeeds.
func (a *Activities) ReportCompleted(ctx context.Context, in RunRef) error {
	q, cancel := a.tc(ctx)
	defer cancel()
	if _, err := q.ReportCompleted(in.TaskID, strconv.Itoa(in.RunID)); err != nil {
		return tcError(runCall("reportCompleted", in), err)
	}
	a.log.InfoContext(ctx, "run resolved completed", "taskId", in.TaskID, "runId", in.RunID)
	return nil
}

// ReportFailed resolves the run as failed (Buildbot WARNINGS or FAILURE).
func (a *Activities) ReportFailed(ctx context.Context, in RunRef) error {
	q, cancel := a.tc(ctx)
	defer cancel()
	if _, err := q.ReportFailed(in.TaskID, strconv.Itoa(in.RunID)); err != nil {
		return tcError(runCall("reportFailed", in), err)
	}
	a.log.InfoContext(ctx, "run resolved failed", "taskId", in.TaskID, "runId", in.RunID)
	return nil
}

// ReportException resolves the run as exception with in.Reason
// (malformed-payload, worker-shutdown, ...).
func (a *Activities) ReportException(ctx context.Context, in ExceptionInput) error {
	q, cancel := a.tc(ctx)
	defer cancel()
	ref := RunRef{TaskID: in.TaskID, RunID: in.RunID}
	if _, err := q.ReportException(in.TaskID, strconv.Itoa(in.RunID), &tcqueue.TaskExceptionRequest{Reason: in.Reason}); err != nil {
		return tcError(runCall("reportException", ref), err)
	}
	a.log.InfoContext(ctx, "run resolved exception", "taskId", in.TaskID, "runId", in.RunID, "reason", in.Reason)
	return nil
}
