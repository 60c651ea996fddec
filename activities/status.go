package activities

import (
	"context"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// TaskStatus reads the task's status from Taskcluster, so the workflow can
// act only on what TC says now.
func (a *Activities) TaskStatus(ctx context.Context, taskID string) (TaskStatus, error) {
	q, clock, cancel := a.tcClocked(ctx)
	defer cancel()
	resp, err := q.Status(taskID)
	if err != nil {
		return TaskStatus{}, tcError("status of "+taskID, err)
	}
	return toTaskStatus(taskID, resp.Status, clock.read()), nil
}

// RerunTask asks Taskcluster for a new run of a resolved task (a no-op on a
// pending or running one, e.g. when TC already made the retry run after a
// worker-shutdown) and returns the status, whose last run is the one to
// follow.
func (a *Activities) RerunTask(ctx context.Context, taskID string) (TaskStatus, error) {
	q, clock, cancel := a.tcClocked(ctx)
	defer cancel()
	resp, err := q.RerunTask(taskID)
	if err != nil {
		return TaskStatus{}, tcError("rerunTask "+taskID, err)
	}
	a.log.InfoContext(ctx, "task rerun requested", "taskId", taskID, "runs", len(resp.Status.Runs))
	return toTaskStatus(taskID, resp.Status, clock.read()), nil
}

// CancelTask cancels the task in Taskcluster (its pending or running run
// resolves exception/canceled; a resolved task is left as it is).
func (a *Activities) CancelTask(ctx context.Context, taskID string) (TaskStatus, error) {
	q, clock, cancel := a.tcClocked(ctx)
	defer cancel()
	resp, err := q.CancelTask(taskID)
	if err != nil {
		return TaskStatus{}, tcError("cancelTask "+taskID, err)
	}
	a.log.InfoContext(ctx, "task cancelled in Taskcluster", "taskId", taskID, "state", resp.Status.State)
	return toTaskStatus(taskID, resp.Status, clock.read()), nil
}

func toTaskStatus(taskID string, s tcqueue.TaskStatusStructure, clock QueueClock) TaskStatus {
	out := TaskStatus{
		QueueClock: clock,
		TaskID:     taskID,
		State:      s.State,
		Deadline:   tcTime(s.Deadline),
		Expires:    tcTime(s.Expires),
		Runs:       make([]Run, 0, len(s.Runs)),
	}
	for _, r := range s.Runs {
		out.Runs = append(out.Runs, Run{
			RunID:          int(r.RunID),
			State:          r.State,
			ReasonCreated:  r.ReasonCreated,
			ReasonResolved: r.ReasonResolved,
			Scheduled:      tcTime(r.Scheduled),
			TakenUntil:     tcTime(r.TakenUntil),
			WorkerGroup:    r.WorkerGroup,
			WorkerID:       r.WorkerID,
		})
	}
	return out
}

// tcTime converts a queue timestamp; an absent one stays the zero time
// (tcclient.Time's zero is year 1, which time.Time.IsZero also reports).
func tcTime(t tcclient.Time) time.Time {
	tt := time.Time(t)
	if tt.IsZero() {
		return time.Time{}
	}
	return tt.UTC()
}
