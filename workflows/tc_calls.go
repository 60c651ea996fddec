package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// minTCAttempt is the least one call to TC is given.
const minTCAttempt = 2 * time.Second

// tcAttempt bounds one attempt of a call to TC by what is left of the
// claim the task holds. A call that hangs is given up at the attempt's
// timeout and retried, and while it runs the workflow cannot reclaim: with
// the usual timeout (30 s) and a short lead (a 90 s claim is renewed 30 s
// before takenUntil) one hung call would let the claim expire. A quarter of
// what is left leaves room for three more attempts. With TC's 20-minute
// claims and the default lead (300 s) the usual timeout is the smaller.
// Only the attempts' timeout changes, not what the workflow does, so
// running workflows replay unchanged.
func tcAttempt(usual, left time.Duration) time.Duration {
	return min(usual, max(left/4, minTCAttempt))
}

// tcOptions are the options of one call to TC on behalf of t.
func (t *task) tcOptions(ctx workflow.Context) workflow.LocalActivityOptions {
	o := localActivityOptions(taskcluster)
	if t.s.Claimed && !t.s.TakenUntil.IsZero() {
		o.StartToCloseTimeout = tcAttempt(o.StartToCloseTimeout, t.onOurClock(t.s.TakenUntil).Sub(workflow.Now(ctx)))
	}
	return o
}

// callTC runs one call to TC for t and decodes its result.
func callTC[Out any](ctx workflow.Context, t *task, fn any, in any) (Out, error) {
	return callWith[Out](ctx, t.tcOptions(ctx), fn, in)
}

// callTCNoResult runs one call to TC for t that returns only an error.
func callTCNoResult(ctx workflow.Context, t *task, fn any, in any) error {
	ctx = workflow.WithLocalActivityOptions(ctx, t.tcOptions(ctx))
	return workflow.ExecuteLocalActivity(ctx, fn, in).Get(ctx, nil)
}
