package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// validateAndInject validates the task in the original bridge's order
// (ignored builders, schema, restricted builders, allowed builders: all in
// PrepareTask) and injects a BuildRequest for run, submitted at the run's
// scheduled time.
func (t *task) validateAndInject(ctx workflow.Context, run activities.Run) error {
	t.s.Phase = signals.PhaseValidating
	prep, err := callTC[activities.Prepared](ctx, t, a.PrepareTask,
		activities.PrepareInput{TaskID: t.id, RunID: run.RunID})
	if err != nil {
		return t.prepareFailed(ctx, run.RunID, err)
	}
	t.s.BuilderName, t.s.Branch, t.s.Revision = prep.BuilderName, prep.Branch, prep.Revision
	t.s.TaskName = prep.TaskName
	if !prep.Expires.IsZero() {
		t.s.Expires = prep.Expires
	}
	if !prep.Deadline.IsZero() {
		t.s.Deadline = prep.Deadline
	}
	switch prep.Decision {
	case activities.DecisionIgnore:
		// Nothing at all: not even a claim, as the original did.
		t.s.RunID = run.RunID
		t.note(ctx, "builder %q is ignored: %s", prep.BuilderName, prep.Reason)
		t.end(signals.PhaseIgnored)
		return nil
	case activities.DecisionMalformed:
		return t.malformed(ctx, run.RunID, prep.Reason)
	case activities.DecisionInject:
	default:
		return fmt.Errorf("PrepareTask returned unknown decision %q", prep.Decision)
	}
	if prep.Injection == nil {
		return errors.New("PrepareTask decided to inject but returned no injection")
	}
	in := *prep.Injection
	in.TaskID, in.RunID, in.SubmittedAt = t.id, run.RunID, run.Scheduled
	res, err := call[activities.InjectResult](ctx, schedulerDB, a.InjectBuildRequest, in)
	if err != nil {
		return t.prepareFailed(ctx, run.RunID, err)
	}
	*t.s = ResumeState{
		Phase:          signals.PhasePending,
		RunID:          run.RunID,
		BuildRequestID: res.BuildRequestID,
		PollRunning:    res.PollRunning,
		BuilderName:    t.s.BuilderName,
		TaskName:       t.s.TaskName,
		Branch:         t.s.Branch,
		Revision:       t.s.Revision,
		Expires:        t.s.Expires,
		Deadline:       t.s.Deadline,
		NextCheck:      workflow.Now(ctx).Add(t.timing.CheckInterval),
		Seen:           t.s.Seen,
		LastEvents:     t.s.LastEvents,
		Inbox:          t.s.Inbox,
		MemoShown:      t.s.MemoShown,
	}
	if res.Created {
		t.note(ctx, "BuildRequest %d injected for run %d on %s", res.BuildRequestID, run.RunID, t.s.BuilderName)
	} else {
		t.note(ctx, "BuildRequest %d already carries run %d", res.BuildRequestID, run.RunID)
	}
	return nil
}

// prepareFailed handles a final answer of PrepareTask or InjectBuildRequest.
func (t *task) prepareFailed(ctx workflow.Context, runID int, err error) error {
	switch k := refusal(err); {
	case k == activities.ErrBadPayload || k == activities.ErrPropertyTooLong:
		return t.malformed(ctx, runID, errMessage(err))
	case k != "":
		t.note(ctx, "TC answered %s while reading the task: nothing more to do", k)
		t.end(signals.PhaseResolved)
		return nil
	}
	return err
}

// malformed claims the run and reports it as malformed-payload, so the
// task's author sees why in TC.
func (t *task) malformed(ctx workflow.Context, runID int, reason string) error {
	t.s.RunID = runID
	t.note(ctx, "malformed payload: %s", reason)
	if err := t.claim(ctx); err != nil || t.done {
		return err
	}
	if !t.s.Claimed {
		t.note(ctx, "run %d is not ours: cannot report malformed-payload", t.s.RunID)
		t.end(signals.PhaseResolved)
		return nil
	}
	err := callTCNoResult(ctx, t, "reportException malformed-payload", a.ReportException,
		activities.ExceptionInput{TaskID: t.id, RunID: t.s.RunID, Reason: "malformed-payload"})
	if err != nil && refusal(err) == "" {
		return err
	}
	t.noteAnswer(ctx, "reportException malformed-payload", err)
	t.end(signals.PhaseResolved)
	return nil
}

// errMessage is the message of an activity's ApplicationError without the
// activity wrapper around it.
func errMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// noteAnswer records the outcome of a TC call whose refusal ends nothing.
func (t *task) noteAnswer(ctx workflow.Context, what string, err error) {
	if err != nil {
		t.note(ctx, "%s for run %d refused: %s", what, t.s.RunID, refusal(err))
		return
	}
	t.note(ctx, "%s for run %d", what, t.s.RunID)
}
