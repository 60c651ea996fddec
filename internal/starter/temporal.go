package starter

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// signalWithStart signals the task's open workflow, or starts one with start
// and the signal. reuse decides what happens when only a closed run exists.
func (r *Router) signalWithStart(ctx context.Context, name string, sig any, start signals.TaskStart,
	reuse enumspb.WorkflowIdReusePolicy) (client.WorkflowRun, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	id := signals.TaskWorkflowID(start.TaskID)
	run, err := r.tc.SignalWithStartWorkflow(ctx, id, name, sig, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                r.opts.TaskQueue,
		WorkflowIDReusePolicy:    reuse,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, signals.TaskWorkflowType, start, nil)
	countSignal(name, err)
	return run, err
}

// signal signals the task's current workflow run.
func (r *Router) signal(ctx context.Context, taskID, name string, sig any) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	err := r.tc.SignalWorkflow(ctx, signals.TaskWorkflowID(taskID), "", name, sig)
	countSignal(name, err)
	return err
}

func countSignal(name string, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case isNotFound(err), isAlreadyStarted(err):
		outcome = "no_workflow"
	default:
		outcome = "error"
	}
	metrics.Signals.WithLabelValues(name, outcome).Inc()
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

func isAlreadyStarted(err error) bool {
	var as *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &as)
}

// handlerError turns a failed Temporal call into the handler's answer.
// Only a request Temporal calls invalid is poison; everything else
// (unavailable, timeouts, a namespace or permission being fixed by an
// operator) is retried, because dropping a task-pending would lose a task.
func handlerError(what string, err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return pulse.Poison(fmt.Errorf("%s: Temporal refused the request: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}
