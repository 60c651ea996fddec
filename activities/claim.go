package activities

import (
	"context"
	"strconv"
	"time"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// ClaimRun claims run in.RunID of the task as the bridge's worker. A reply
// without takenUntil (the queue's 200 {} to a quarantined worker) is not a
// claim and returns a zero TakenUntil. The reply's temporary credentials
// are dropped here: the bridge acts with its own, and nothing secret may
// reach workflow history.
func (a *Activities) ClaimRun(ctx context.Context, in RunRef) (ClaimResult, error) {
	q, clock, cancel := a.tcClocked(ctx)
	defer cancel()
	resp, err := q.ClaimTask(in.TaskID, strconv.Itoa(in.RunID), &tcqueue.TaskClaimRequest{
		WorkerGroup: a.workerGroup,
		WorkerID:    a.workerID,
	})
	replied := time.Now().UTC()
	if err != nil {
		return ClaimResult{}, tcError(runCall("claimTask", in), err)
	}
	takenUntil := tcTime(resp.TakenUntil)
	if takenUntil.IsZero() {
		a.log.WarnContext(ctx, "claim answered without takenUntil: worker quarantined?",
			"taskId", in.TaskID, "runId", in.RunID, "workerGroup", a.workerGroup, "workerId", a.workerID)
		return ClaimResult{RepliedAt: replied, QueueClock: clock.read()}, nil
	}
	qc := clock.read()
	a.log.InfoContext(ctx, "run claimed", "taskId", in.TaskID, "runId", in.RunID, "takenUntil", takenUntil, "tcClockAhead", qc.Ahead)
	return ClaimResult{TakenUntil: takenUntil, RepliedAt: replied, QueueClock: qc}, nil
}

// ReclaimRun extends the bridge's claim on a running run.
func (a *Activities) ReclaimRun(ctx context.Context, in RunRef) (ClaimResult, error) {
	q, clock, cancel := a.tcClocked(ctx)
	defer cancel()
	resp, err := q.ReclaimTask(in.TaskID, strconv.Itoa(in.RunID))
	replied := time.Now().UTC()
	if err != nil {
		return ClaimResult{}, tcError(runCall("reclaimTask", in), err)
	}
	takenUntil := tcTime(resp.TakenUntil)
	qc := clock.read()
	a.log.InfoContext(ctx, "run reclaimed", "taskId", in.TaskID, "runId", in.RunID, "takenUntil", takenUntil, "tcClockAhead", qc.Ahead)
	return ClaimResult{TakenUntil: takenUntil, RepliedAt: replied, QueueClock: qc}, nil
}

func runCall(method string, in RunRef) string {
	return method + " " + in.TaskID + "/" + strconv.Itoa(in.RunID)
}
