package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// TaskWorkflow carries one Taskcluster task through Buildbot, from the
// task-pending signal it was started with to the TC resolution of its run
// (see the package documentation for the lifecycle). resume is nil when the
// workflow is started, and the workflow's own state after ContinueAsNew.
// It is registered as signals.TaskWorkflowType.
func TaskWorkflow(ctx workflow.Context, start signals.TaskStart, resume *ResumeState) error {
	t := newTask(ctx, start, resume)
	if err := workflow.SetQueryHandler(ctx, signals.QueryState, t.query); err != nil {
		return err
	}
	// A cancel request (the Web UI's Request Cancellation, `temporal
	// workflow cancel`) cancels ctx, and every timer and activity started
	// on a cancelled context ends at once. The task's work therefore runs
	// on a context the request does not reach; the loop watches ctx and
	// carries the request out as an operator cancel (see cancel_request.go).
	work, _ := workflow.NewDisconnectedContext(ctx)
	t.request = ctx
	if resume == nil {
		countTaskStarted(work)
		var err error
		if start.Adopt != nil {
			err = t.adopt(work)
		} else {
			err = t.begin(work)
		}
		if err != nil {
			return err
		}
	}
	if err := t.loop(work); err != nil {
		return err
	}
	countTaskEnded(work, t.s.Phase)
	t.dropLateSignals()
	return t.closing()
}

// task is one run of TaskWorkflow: the durable state plus what only this
// run needs (signal channels, the pending timer).
type task struct {
	id     string
	start  signals.TaskStart
	timing signals.Timing
	s      *ResumeState
	logger log.Logger

	inbound  []inbound
	received int // signals received by this run, for the 10,000 limit

	timer       workflow.Future
	timerAt     time.Time
	cancelTimer workflow.CancelFunc

	// request is the workflow's own context: cancelled by a cancel
	// request, used for nothing but noticing one. requestTaken is set once
	// the request has become an operator cancel.
	request      workflow.Context
	requestTaken bool

	done bool
}

func newTask(ctx workflow.Context, start signals.TaskStart, resume *ResumeState) *task {
	s := resume
	if s == nil {
		s = &ResumeState{Phase: signals.PhaseValidating}
	}
	return &task{
		id:      start.TaskID,
		start:   start,
		timing:  timingOrDefault(start.Timing),
		s:       s,
		logger:  log.With(workflow.GetLogger(ctx), "TaskId", start.TaskID),
		inbound: signalChannels(ctx),
	}
}

// ref names the run the task is carried for.
func (t *task) ref() activities.RunRef {
	return activities.RunRef{TaskID: t.id, RunID: t.s.RunID}
}

// note logs what happened and keeps it for the state query.
func (t *task) note(ctx workflow.Context, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.logger.Info(line, "RunId", t.s.RunID, "BuildRequestId", t.s.BuildRequestID)
	t.s.addLastEvent(workflow.Now(ctx).UTC().Format(time.RFC3339) + " " + line)
}

// end finishes the task's lifecycle; the loop returns after the current
// handler.
func (t *task) end(phase string) {
	if phase == signals.PhaseResolved && t.s.CancelledByOperator {
		phase = signals.PhaseCancelled
	}
	t.s.Phase = phase
	t.s.Claimed = false
	t.done = true
}

// settlePhase keeps the active phases true to the claim: running while we
// hold TC's claim, pending otherwise.
func (t *task) settlePhase() {
	if t.s.Phase != signals.PhasePending && t.s.Phase != signals.PhaseRunning {
		return
	}
	if t.s.Claimed {
		t.s.Phase = signals.PhaseRunning
	} else {
		t.s.Phase = signals.PhasePending
	}
}

func (t *task) query() (signals.TaskState, error) {
	return t.s.taskState(t.id), nil
}
