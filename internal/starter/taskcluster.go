package starter

import (
	"context"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// HandleTaskPending starts the task's workflow, or signals the open one.
//
// A closed workflow does not stop a new one (reuse policy ALLOW_DUPLICATE):
// a user's rerun of a resolved task is a new pending run that needs a new
// lifecycle, and a late duplicate of an old task-pending is dropped by the
// new run itself, which reads the task's status from Taskcluster first.
func (r *Router) HandleTaskPending(ctx context.Context, m pulse.Message) error {
	sig, err := pulsemsg.DecodeTaskPending(m.Body)
	if err != nil {
		return pulse.Poison(err)
	}
	log := r.msgLog(m).With("task_id", sig.TaskID, "run_id", sig.RunID, "event_id", sig.EventID)
	run, err := r.signalWithStart(ctx, signals.TaskPendingName, sig,
		signals.TaskStart{TaskID: sig.TaskID, Timing: r.opts.Timing},
		enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
	switch {
	case err == nil:
		log.Info("starter: task-pending delivered", "workflow_id", run.GetID(), "workflow_run_id", run.GetRunID())
		return nil
	case isAlreadyStarted(err):
		log.Info("starter: task-pending not delivered: the workflow ID is taken", "err", err)
		return nil
	default:
		return handlerError("task-pending for task "+sig.TaskID, err)
	}
}

// HandleTaskException signals the task's workflow. The workflow decides
// what the reason means (only canceled and deadline-exceeded act); with no
// open workflow there is nothing of ours to cancel.
func (r *Router) HandleTaskException(ctx context.Context, m pulse.Message) error {
	sig, err := pulsemsg.DecodeTaskException(m.Body)
	if err != nil {
		return pulse.Poison(err)
	}
	log := r.msgLog(m).With("task_id", sig.TaskID, "run_id", sig.RunID, "reason", sig.Reason, "event_id", sig.EventID)
	err = r.signal(ctx, sig.TaskID, signals.TaskExceptionName, sig)
	switch {
	case err == nil:
		log.Info("starter: task-exception delivered")
		return nil
	case isNotFound(err):
		log.Info("starter: task-exception ignored: no open workflow for the task, nothing to cancel")
		return nil
	default:
		return handlerError("task-exception for task "+sig.TaskID, err)
	}
}
