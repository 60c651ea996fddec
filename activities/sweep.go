package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Sweep is one pass over the scheduler DB: it returns the BuildRequests of
// ours that were cancelled in Buildbot before they started (complete, never
// claimed) and that the watermark has not reported yet, and it hands each
// incomplete request of a previous bridge to a task workflow in adopt mode.
func (a *Activities) Sweep(ctx context.Context, from Watermark) (SweepResult, error) {
	cancelled, next, err := a.db.CancelledBeforeStart(ctx, toDBWatermark(from), sweepBatch)
	if err != nil {
		return SweepResult{}, err
	}
	res := SweepResult{Cancelled: make([]CancelledRequest, 0, len(cancelled)), Next: fromDBWatermark(next, from)}
	for _, c := range cancelled {
		res.Cancelled = append(res.Cancelled, CancelledRequest{TaskID: c.TaskID, BuildRequestID: c.BuildRequestID})
		a.log.InfoContext(ctx, "buildrequest cancelled before it started", "taskId", c.TaskID, "buildRequestId", c.BuildRequestID)
	}
	res.Adopted, err = a.adopt(ctx)
	if err != nil {
		return SweepResult{}, err
	}
	return res, nil
}

func toDBWatermark(w Watermark) schedulerdb.Watermark {
	out := schedulerdb.Watermark{Horizon: w.CompleteAt}
	for _, s := range w.Seen {
		out.Seen = append(out.Seen, schedulerdb.SeenRequest{ID: s.ID, CompleteAt: s.CompleteAt})
	}
	return out
}

func fromDBWatermark(w schedulerdb.Watermark, prev Watermark) Watermark {
	out := Watermark{CompleteAt: w.Horizon, BuildRequestID: prev.BuildRequestID}
	for _, s := range w.Seen {
		out.Seen = append(out.Seen, SeenRequest{ID: s.ID, CompleteAt: s.CompleteAt})
		out.BuildRequestID = max(out.BuildRequestID, s.ID)
	}
	return out
}

// adopt starts a task workflow in adopt mode for each incomplete request of
// a previous bridge, then records the request as ours. The workflow is
// started first: should recording fail, the next pass finds the request
// again and the start joins the running workflow, whereas a recorded
// request with no workflow would be lost.
func (a *Activities) adopt(ctx context.Context) (int, error) {
	reqs, err := a.db.UnadoptedRequests(ctx, adoptBatch)
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
		// Run 0: the adopting workflow reads the task's real runs from TC;
		// a newer run only gets a new request once this one is complete.
		if err := a.db.AdoptRequest(ctx, r.TaskID, r.BuildRequestID, 0); err != nil {
			return adopted, err
		}
		adopted++
		a.log.InfoContext(ctx, "previous bridge's buildrequest adopted", "taskId", r.TaskID, "buildRequestId", r.BuildRequestID)
	}
	return adopted, nil
}

func (a *Activities) startAdoption(ctx context.Context, r schedulerdb.Adoptable) error {
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
