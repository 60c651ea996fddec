package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// cancelRequestReason is the operator cancel a cancel request becomes.
const cancelRequestReason = "cancellation requested through Temporal (Web UI or temporal workflow cancel)"

// takeCancelRequest turns a cancel request, once, into an operator cancel
// event at the end of the inbox: events that arrived before it are handled
// first, so a finished build's resolution completes and a cancel after it
// finds nothing to cancel.
func (t *task) takeCancelRequest(ctx workflow.Context) error {
	if t.requestTaken || t.request.Err() == nil {
		return nil
	}
	t.requestTaken = true
	if workflow.GetVersion(ctx, versionCancelRequest, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		// Code before the change let the request cancel everything.
		return t.request.Err()
	}
	t.note(ctx, "cancellation requested through Temporal: cancelling the task as an operator would")
	t.s.Inbox = append(t.s.Inbox, Event{Cancel: &signals.Cancel{Reason: cancelRequestReason}})
	return nil
}

// closing is what the workflow returns once its lifecycle ended: a task
// cancelled because of a cancel request closes as Canceled, which is what
// the operator asked for; anything else completes.
func (t *task) closing() error {
	if t.requestTaken && t.s.CancelledByOperator {
		return t.request.Err()
	}
	return nil
}
