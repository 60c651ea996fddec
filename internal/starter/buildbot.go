package starter

import (
	"context"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// HandleStarted signals build-started to the task of every BuildRequest the
// build serves. A build without a taskId property was not asked for by a
// bridge and is ignored, as the original did; with one, every request of a
// merged build is mapped through the scheduler DB, since only the first
// request's properties reached the build.
func (r *Router) HandleStarted(ctx context.Context, m pulse.Message) error {
	e, err := pulsemsg.DecodeBuildStarted(m.Body)
	if err != nil {
		return pulse.Poison(err)
	}
	log := r.msgLog(m).With("builder", e.BuilderName, "build_number", e.BuildNumber, "master", e.Master)
	if e.TaskID == "" {
		log.Debug("starter: started event ignored: the build has no taskId property")
		return nil
	}
	return r.toRequests(ctx, log, e.RequestIDs, signals.BuildStartedName, func(taskID string, brid int64) any {
		return e.Signal(taskID, brid)
	})
}

// HandleLogUploaded signals build-finished to the task of every
// BuildRequest the build satisfied (the request_ids property postrun.py
// adds). No taskId property is required: a merged build carries only its
// first request's.
func (r *Router) HandleLogUploaded(ctx context.Context, m pulse.Message) error {
	e, err := pulsemsg.DecodeLogUploaded(m.Body)
	if err != nil {
		return pulse.Poison(err)
	}
	log := r.msgLog(m).With("builder", e.BuilderName, "build_number", e.BuildNumber, "master", e.Master, "results", e.Results)
	if len(e.OmittedProperties) > 0 {
		log.Warn("starter: build properties too large for a signal; these values are replaced by a note",
			"properties", e.OmittedProperties, "limit_bytes", pulsemsg.MaxPropertiesBytes)
	}
	return r.toRequests(ctx, log, e.RequestIDs, signals.BuildFinishedName, func(taskID string, brid int64) any {
		return e.Signal(taskID, brid)
	})
}

// toRequests delivers one signal per BuildRequest of ours. Each request is
// tried even when an earlier one failed; if any failed transiently the
// message is redelivered as a whole, and the requests already signalled
// drop the repeat by its event id.
func (r *Router) toRequests(ctx context.Context, log *slog.Logger, brids []int64, name string,
	signalFor func(taskID string, brid int64) any) error {
	brids = unique(brids)
	if len(brids) == 0 {
		log.Debug("starter: build event names no BuildRequest")
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	tasks, err := r.db.TasksForRequests(dctx, brids)
	cancel()
	if err != nil {
		return fmt.Errorf("map BuildRequests %v to tasks: %w", brids, err)
	}
	var transient, poison error
	for _, brid := range brids {
		taskID, ok := tasks[brid]
		if !ok {
			log.Debug("starter: BuildRequest is not ours; ignored", "brid", brid)
			continue
		}
		err := r.toRequest(ctx, log.With("brid", brid, "task_id", taskID), taskID, brid, name, signalFor(taskID, brid))
		switch {
		case err == nil:
		case pulse.IsPoison(err):
			poison = err
		default:
			transient = err
		}
	}
	if transient != nil {
		return transient
	}
	return poison
}

// toRequest signals the task's open workflow. With none open, a task this
// bridge carried is over and the event is dropped; a task a previous bridge
// injected (no bbb_tasks row) is adopted: a workflow in adopt mode starts
// with the event as its first signal.
func (r *Router) toRequest(ctx context.Context, log *slog.Logger, taskID string, brid int64, name string, sig any) error {
	err := r.signal(ctx, taskID, name, sig)
	if err == nil {
		log.Info("starter: " + name + " delivered")
		return nil
	}
	if !isNotFound(err) {
		return handlerError(name+" for task "+taskID, err)
	}
	dctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	_, _, carried, err := r.db.TaskRow(dctx, taskID)
	cancel()
	if err != nil {
		return fmt.Errorf("%s for task %s: read its bbb_tasks row: %w", name, taskID, err)
	}
	if carried {
		log.Info("starter: " + name + " ignored: the task's workflow is over")
		return nil
	}
	// REJECT_DUPLICATE: a closed run means the task was adopted already
	// and is over; a late event must not adopt it a second time.
	run, err := r.signalWithStart(ctx, name, sig,
		signals.TaskStart{TaskID: taskID, Adopt: &signals.Adoption{BuildRequestID: brid}, Timing: r.opts.Timing},
		enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)
	switch {
	case err == nil:
		log.Info("starter: adopting a previous bridge's task with "+name, "workflow_run_id", run.GetRunID())
		return nil
	case isAlreadyStarted(err):
		log.Info("starter: " + name + " ignored: the adopted task's workflow is over")
		return nil
	default:
		return handlerError("adopt task "+taskID, err)
	}
}

func unique(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
