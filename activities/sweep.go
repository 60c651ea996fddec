package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// Sweep is one pass over Buildbot: it returns the BuildRequests of ours that
// were cancelled in Buildbot before they started and that the watermark has
// not reported yet, and it hands each incomplete request of a previous
// bridge to a task workflow in adopt mode.
func (a *Activities) Sweep(ctx context.Context, from Watermark) (SweepResult, error) {
	cancelled, next, err := a.bb.Cancelled(ctx, from, sweepBatch)
	if err != nil {
		return SweepResult{}, err
	}
	for _, c := range cancelled {
		a.log.InfoContext(ctx, "buildrequest cancelled before it started", "taskId", c.TaskID, "buildRequestId", c.BuildRequestID)
	}
	res := SweepResult{Cancelled: cancelled, Next: next}
	if ad, ok := a.bb.(adopter); ok {
		if res.Adopted, err = a.adopt(ctx, ad); err != nil {
			return SweepResult{}, err
		}
	}
	return res, nil
}

// adopt starts a task workflow in adopt mode for each incomplete request of
// a previous bridge, then records the request as ours. The workflow is
// started first: should recording fail, the next pass finds the request
// again and the start joins the running workflow, whereas a recorded
// request with no workflow would be lost.
func (a *Activities) adopt(ctx context.Context, ad adopter) (int, error) {
	reqs, err := ad.unadopted(ctx, adoptBatch)
	if err != nil {
		return 0, err
	}
	if len(reqs) > 0 && a.temporal == nil {
		return 0, errors.New("sweep: previous bridge's requests found but no Temporal client to adopt them")
	}
	adopted := 0
	for _, r := range reqs {
		if err := a.startAdoption(ctx, r); err != nil {
			return adopted, err
		}
		if err := ad.markAdopted(ctx, r.TaskID, r.BuildRequestID); err != nil {
			return adopted, err
		}
		adopted++
		a.log.InfoContext(ctx, "previous bridge's buildrequest adopted", "taskId", r.TaskID, "buildRequestId", r.BuildRequestID)
	}
	return adopted, nil
}

func (a *Activities) startAdoption(ctx context.Context, r adoptable) error {
	ctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	start := signals.TaskStart{
		TaskID: r.TaskID,
		Adopt:  &signals.Adoption{BuildRequestID: r.BuildRequestID},
		Timing: a.timing,
	}
	_, err := a.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        signals.TaskWorkflowID(r.TaskID),
		TaskQueue: a.taskQueue,
		// A workflow already carrying the task (an event got there first)
		// keeps it.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, signals.TaskWorkflowType, start, nil)
	if err != nil {
		return fmt.Errorf("sweep: start adopting workflow for task %s: %w", r.TaskID, err)
	}
	return nil
}
