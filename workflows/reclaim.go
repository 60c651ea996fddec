package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/metrics"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// reclaimAt is when the claim on RunID is renewed: when takenUntil, on our
// clock, is min(ReclaimLead, claim period / 3) away, the claim period being
// takenUntil minus the time of the last claim or reclaim reply. A 30 s
// claim is renewed every 20 s, TC's real 20 minutes every 15 minutes.
func (t *task) reclaimAt() time.Time {
	ends := t.onOurClock(t.s.TakenUntil)
	lead := t.timing.ReclaimLead
	if !t.s.ClaimRepliedAt.IsZero() {
		if third := ends.Sub(t.s.ClaimRepliedAt) / 3; third < lead {
			lead = third
		}
	}
	at := ends.Add(-lead)
	// A takenUntil already past at the reply (a clock skew the reply did
	// not measure) must not turn into a loop of back-to-back reclaims.
	if floor := t.s.ClaimRepliedAt.Add(time.Second); at.Before(floor) {
		at = floor
	}
	return at
}

// reclaim renews the claim on RunID and acts on a refusal as DESIGN §4
// "Reclaim answers" says.
func (t *task) reclaim(ctx workflow.Context) error {
	held := t.onOurClock(t.s.TakenUntil)
	res, err := callTC[activities.ClaimResult](ctx, t, a.ReclaimRun, t.ref())
	if err == nil {
		recordReclaimLead(ctx, held.Sub(workflow.Now(ctx)))
		if res.TakenUntil.IsZero() {
			t.s.Claimed = false
			t.settlePhase()
			t.note(ctx, "reclaim of run %d answered without takenUntil: the claim is lost", t.s.RunID)
			return nil
		}
		t.holdClaim(ctx, res)
		t.note(ctx, "reclaimed run %d until %s", t.s.RunID, res.TakenUntil.UTC().Format(time.RFC3339))
		return nil
	}
	if k := refusal(err); k != "" {
		countReclaimRefused(ctx, k)
	}
	switch k := refusal(err); {
	case k == activities.ErrTCConflict:
		t.note(ctx, "reclaim of run %d refused (409)", t.s.RunID)
		return t.reconcileWithTC(ctx)
	case k != "":
		t.note(ctx, "reclaim of run %d answered %s: the task is gone", t.s.RunID, k)
		t.end(signals.PhaseResolved)
		return nil
	}
	return err
}

// reconcileWithTC reads TC's status after it refused a claim or reclaim and
// acts on it.
func (t *task) reconcileWithTC(ctx workflow.Context) error {
	t.s.Claimed = false
	t.settlePhase()
	st, gone, err := t.taskStatus(ctx)
	if err != nil || gone {
		return err
	}
	return t.reconcile(ctx, st)
}

// reconcile decides from TC's status what a refused claim or reclaim of
// RunID means:
//   - a newer pending run (claim-expired with retries left): the build is
//     still healthy, so claim the new run and carry on;
//   - RunID resolved as completed/failed or by another exception (someone
//     else resolved it when the BuildRequest completed): the finished event
//     has it, wait for it a while;
//   - claim-expired with no newer run, deadline-exceeded, canceled, or a
//     deadline that has passed: the task is over in TC, so cancel it in
//     Buildbot and end.
func (t *task) reconcile(ctx workflow.Context, st activities.TaskStatus) error {
	now := workflow.Now(ctx)
	pastDeadline := t.pastDeadline(ctx, st.Deadline)
	latest, ours := latestRun(st), runByID(st, t.s.RunID)
	switch {
	case !pastDeadline && latest != nil && latest.RunID > t.s.RunID && latest.State == runPending:
		if ours != nil && ours.ReasonResolved == "claim-expired" {
			count(ctx, metrics.ClaimExpiredFound, nil)
		}
		t.note(ctx, "TC made run %d pending: the build carries on for it", latest.RunID)
		t.s.RunID, t.s.RunOver, t.s.WaitUntil = latest.RunID, false, time.Time{}
		return t.claim(ctx)
	case !pastDeadline && ours != nil && resolvedElsewhere(*ours):
		t.note(ctx, "run %d is %s in TC: waiting for the build's finished event", ours.RunID, ours.State)
		t.s.RunOver = true
		t.s.WaitUntil = now.Add(t.timing.FinishedGrace)
		return nil
	}
	t.note(ctx, "TC says the task is over (%s): cancelling it in Buildbot", describeLatest(latest))
	t.s.RunOver = true
	if _, err := t.cancelInBuildbot(ctx); err != nil {
		return err
	}
	t.end(signals.PhaseResolved)
	return nil
}

// resolvedElsewhere tells a run resolved (or held) by someone else, whose
// build is fine, from a run TC ended because the task is over.
func resolvedElsewhere(r activities.Run) bool {
	switch r.State {
	case runCompleted, runFailed, runRunning:
		return true
	case runException:
		switch r.ReasonResolved {
		case "claim-expired", "deadline-exceeded", "canceled":
			return false
		}
		return true
	}
	return false
}
