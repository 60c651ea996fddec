package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// TC run states.
const (
	runPending   = "pending"
	runRunning   = "running"
	runCompleted = "completed"
	runFailed    = "failed"
	runException = "exception"
)

// begin handles the task-pending signal that SignalWithStart delivered with
// the start. Other signals that raced it stay queued for the event loop.
func (t *task) begin(ctx workflow.Context) error {
	var p signals.TaskPending
	t.pendingChannel().Receive(ctx, &p)
	t.received++
	t.s.firstSighting(p.EventID)
	t.note(ctx, "%s", Event{Pending: &p})
	return t.startRun(ctx, p.RunID)
}

// startRun acts on a task-pending for runID only if TC says now that the
// task's latest run is pending and not older than runID: so a late duplicate
// for a resolved task does nothing, while a rerun of a resolved task gets a
// new BuildRequest.
func (t *task) startRun(ctx workflow.Context, runID int) error {
	st, gone, err := t.taskStatus(ctx)
	if err != nil || gone {
		return err
	}
	t.s.Expires, t.s.Deadline = st.Expires, st.Deadline
	latest := latestRun(st)
	if latest == nil || latest.State != runPending || latest.RunID < runID {
		t.note(ctx, "TC says the task is %s: nothing to do for run %d", describeLatest(latest), runID)
		if t.s.BuildRequestID == 0 {
			t.end(signals.PhaseResolved)
		}
		return nil
	}
	return t.validateAndInject(ctx, *latest)
}

// adopt carries on with a BuildRequest a previous bridge injected: TC's
// status and the BuildRequest row say where the task is.
func (t *task) adopt(ctx workflow.Context) error {
	t.s.BuildRequestID = t.start.Adopt.BuildRequestID
	t.s.Phase = signals.PhasePending
	t.note(ctx, "adopting BuildRequest %d from a previous bridge", t.s.BuildRequestID)
	st, gone, err := t.taskStatus(ctx)
	if err != nil || gone {
		return err
	}
	t.s.Expires, t.s.Deadline = st.Expires, st.Deadline
	row, err := call[activities.BuildRequestState](ctx, schedulerDB, a.ReadBuildRequest, t.s.BuildRequestID)
	if err != nil {
		return err
	}
	latest := latestRun(st)
	if latest == nil {
		t.note(ctx, "TC reports no run: nothing to adopt")
		t.end(signals.PhaseResolved)
		return nil
	}
	t.s.RunID = latest.RunID
	t.s.BuildRunning = !row.Complete && row.RunningBuilds > 0
	switch latest.State {
	case runPending:
		if row.Complete {
			return t.onRow(ctx, row)
		}
		if t.s.BuildRunning {
			return t.claim(ctx)
		}
		t.s.NextCheck = workflow.Now(ctx).Add(t.timing.CheckInterval)
		return nil
	case runRunning:
		// The previous bridge holds the claim: take over its reclaiming
		// at once, which also tells whether the claim is still good.
		t.s.Claimed, t.s.TakenUntil = true, latest.TakenUntil
		if err := t.reclaim(ctx); err != nil || t.done {
			return err
		}
		return t.onRow(ctx, row)
	default:
		t.note(ctx, "TC run %d is already %s", latest.RunID, latest.State)
		t.s.RunOver = true
		if !row.Complete {
			if _, err := t.cancelInBuildbot(ctx); err != nil {
				return err
			}
		}
		t.end(signals.PhaseResolved)
		return nil
	}
}

// onPending handles TC making a newer run of the task pending: after a
// claim expiry or a worker-shutdown retry Buildbot still has the request, so
// the run is only recorded (and claimed at once if its build runs); after
// the BuildRequest completed (a rerun) a new one is injected.
func (t *task) onPending(ctx workflow.Context, p signals.TaskPending) error {
	if p.RunID <= t.s.RunID {
		t.note(ctx, "run %d is not newer than run %d: ignored", p.RunID, t.s.RunID)
		return nil
	}
	if t.s.RequestComplete || t.s.Phase == signals.PhaseCancelling {
		return t.startRun(ctx, p.RunID)
	}
	t.note(ctx, "run %d is pending: BuildRequest %d carries on for it", p.RunID, t.s.BuildRequestID)
	t.s.RunID = p.RunID
	t.s.Claimed, t.s.RunOver, t.s.WaitUntil = false, false, time.Time{}
	if t.s.BuildRunning {
		return t.claim(ctx)
	}
	t.s.NextCheck = workflow.Now(ctx).Add(t.timing.CheckInterval)
	return nil
}

// taskStatus reads TC's status of the task; gone means the task cannot be
// acted on any more, and the workflow has ended.
func (t *task) taskStatus(ctx workflow.Context) (activities.TaskStatus, bool, error) {
	st, err := callTC[activities.TaskStatus](ctx, t, a.TaskStatus, t.id)
	if err == nil {
		t.readQueueClock(st.QueueClock)
		return st, false, nil
	}
	if k := refusal(err); k != "" {
		t.note(ctx, "TC answered %s for the task's status: nothing more to do", k)
		t.end(signals.PhaseResolved)
		return st, true, nil
	}
	return st, false, err
}

// latestRun is the task's last run, the only one that can be pending or
// running.
func latestRun(st activities.TaskStatus) *activities.Run {
	if len(st.Runs) == 0 {
		return nil
	}
	return &st.Runs[len(st.Runs)-1]
}

func runByID(st activities.TaskStatus, runID int) *activities.Run {
	for i := range st.Runs {
		if st.Runs[i].RunID == runID {
			return &st.Runs[i]
		}
	}
	return nil
}

func describeLatest(r *activities.Run) string {
	if r == nil {
		return "without runs"
	}
	if r.ReasonResolved != "" {
		return fmt.Sprintf("at run %d %s (%s)", r.RunID, r.State, r.ReasonResolved)
	}
	return fmt.Sprintf("at run %d %s", r.RunID, r.State)
}
