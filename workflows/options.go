package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
)

// a is only used for its method values: workflow.ExecuteLocalActivity finds
// the registered *activities.Activities by method name, so the Web UI shows
// ClaimRun, ReclaimRun, ... and the worker's instance does the work.
var a *activities.Activities

// activityKind says what an activity talks to, which decides how long one
// attempt may take.
type activityKind int

const (
	taskcluster activityKind = iota // one call to the TC queue
	schedulerDB                     // a read or a transaction on Buildbot's scheduler DB
	selfServe                       // a BuildAPI self-serve cancel
	sweepPass                       // one sweep over the scheduler DB (a scan, and adoption)
)

// retryHorizon bounds how long a transient failure (TC 5xx, DB down,
// self-serve 5xx) is retried. A local activity's ScheduleToClose defaults to
// a single attempt's StartToClose, which would give up after 30 s; this is
// longer than any TC task can live (deadlines are at most 5 days away), so in
// practice the retries are unlimited.
const retryHorizon = 30 * 24 * time.Hour

// nonRetryable are the answers that retrying cannot change.
var nonRetryable = []string{
	activities.ErrTCConflict,
	activities.ErrTCNotFound,
	activities.ErrTCForbidden,
	activities.ErrTCBadRequest,
	activities.ErrPropertyTooLong,
	activities.ErrBadPayload,
	activities.ErrSelfServeRejected,
	activities.ErrBuildRequestNotFound,
}

// localActivityOptions are the timeouts and retry policy of one activity
// kind. Every call is a local activity: each is short, and a local activity
// costs one marker event in history where a normal activity costs three,
// which keeps a task that succeeds first time well under 40 events.
func localActivityOptions(k activityKind) workflow.LocalActivityOptions {
	attempt := 30 * time.Second
	if k == sweepPass {
		attempt = 2 * time.Minute
	}
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    attempt,
		ScheduleToCloseTimeout: retryHorizon,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        0, // unlimited, within retryHorizon
			NonRetryableErrorTypes: nonRetryable,
		},
	}
}

// call runs one activity with its kind's options and decodes its result.
func call[Out any](ctx workflow.Context, k activityKind, fn any, in any) (Out, error) {
	return callWith[Out](ctx, localActivityOptions(k), fn, in)
}

// callWith runs one activity with o and decodes its result.
func callWith[Out any](ctx workflow.Context, o workflow.LocalActivityOptions, fn any, in any) (Out, error) {
	var out Out
	ctx = workflow.WithLocalActivityOptions(ctx, o)
	err := workflow.ExecuteLocalActivity(ctx, fn, in).Get(ctx, &out)
	return out, err
}

// refusal returns the ApplicationError type of a final answer from
// Taskcluster (409, 404, 403, 400) or the payload checks, and "" for anything
// else: success, or an error that outlived its retries.
func refusal(err error) string {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return ""
	}
	for _, t := range nonRetryable {
		if appErr.Type() == t {
			return t
		}
	}
	return ""
}
