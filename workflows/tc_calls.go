package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
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

// callTCNoResult runs one of the calls that report on a run (its
// artifacts, its resolution), which t may hold a claim on. While it does,
// the call's retries stop at the claim's reclaim time: the workflow then
// renews the claim and calls again. Without this, a queue that hangs or
// fails for longer than the claim has left (four held calls in a row, in
// the tc-hangs fault) lets the claim expire under a call that reports on
// it.
func callTCNoResult(ctx workflow.Context, t *task, what string, fn any, in any) error {
	for {
		o := t.tcOptions(ctx)
		bounded := t.s.Claimed && !t.s.TakenUntil.IsZero()
		if bounded {
			o.ScheduleToCloseTimeout = max(t.reclaimAt().Sub(workflow.Now(ctx)), minTCAttempt)
		}
		err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, o), fn, in).Get(ctx, nil)
		// Within the bound, any other failure is the bound running out:
		// the SDK ends with the last attempt's error, not always a
		// timeout, once the next backoff would pass it.
		if err == nil || !bounded || refusal(err) != "" {
			return err
		}
		if workflow.GetVersion(ctx, versionReclaimDuringTCRetries, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return err
		}
		run := t.s.RunID
		t.note(ctx, "TC has not answered %s by the reclaim time of run %d: reclaiming first", what, run)
		if err := t.reclaim(ctx); err != nil {
			return err
		}
		if t.done || !t.s.Claimed || t.s.RunID != run {
			// The reclaim found the claim gone and has acted on what TC
			// says; the call is answered as TC would answer it now.
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: the claim on run %d was lost while TC did not answer", what, run),
				activities.ErrTCConflict, nil)
		}
	}
}
