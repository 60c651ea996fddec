package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// onStarted handles a build of our BuildRequest starting: claim the run.
func (t *task) onStarted(ctx workflow.Context, ev signals.BuildStarted) error {
	if !t.ours(ctx, ev.BuildRequestID) {
		return nil
	}
	if err := t.retriedBy(ctx, "started", ev.BuildRequestID, ev.Master, ev.BuildNumber); err != nil || t.done {
		return err
	}
	if ev.Master != "" {
		t.s.Build = &BuildRef{Master: ev.Master, Number: ev.BuildNumber}
	}
	t.learnBuilder(ev.BuilderName)
	t.s.BuildRunning, t.s.RequestComplete, t.s.Stalled = true, false, false
	t.s.RowCompleteSince, t.s.RowResults = time.Time{}, nil
	if t.s.Claimed || t.s.RunOver {
		return nil
	}
	return t.claim(ctx)
}

// retriedBy handles an event (started or finished) of a later build of
// the BuildRequest on the same master than the last one that started,
// while that one's finished event has not come. Buildbot builds a request
// again only after a RETRY, whose finished event is then late or lost:
// after an outage, redelivered events come in another order than Buildbot
// sent them (started and finished come through different queues), even a
// build's finish before its start. The run ends worker-shutdown and the
// task carries on with TC's next run, as the RETRY's event would have made
// it; that event, when it comes, is dropped (onFinished). A later build on
// another master cannot be told from an earlier one by its number: the
// events are then taken in the order they come, as before.
func (t *task) retriedBy(ctx workflow.Context, what string, brid int64, master string, number int) error {
	cur := t.s.Build
	if cur == nil || master != cur.Master || number <= cur.Number {
		return nil
	}
	curFinished := signals.FinishedEventID(brid, cur.Master, cur.Number)
	if t.s.alreadyKnown(curFinished) ||
		t.s.RunOver || t.s.Phase == signals.PhaseCancelling ||
		workflow.GetVersion(ctx, versionRebuildMeansRetry, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	t.note(ctx, "build %d on %s %s for BuildRequest %d before build %d had finished: Buildbot retried that one (its finished event is late or lost)",
		number, master, what, brid, cur.Number)
	t.s.RetriedBuilds = keepLast(t.s.RetriedBuilds, curFinished, maxRetriedBuilds)
	t.s.BuildRunning = false
	return t.retry(ctx, false)
}

// claim claims RunID. A reply without takenUntil (the queue's answer to a
// quarantined worker) is not a claim. A refusal is reconciled with TC's
// status; that may move on to a newer run, or end the task.
func (t *task) claim(ctx workflow.Context) error {
	res, err := callTC[activities.ClaimResult](ctx, t, a.ClaimRun, t.ref())
	if err == nil {
		if res.TakenUntil.IsZero() {
			t.note(ctx, "claim of run %d answered without takenUntil (quarantined worker?): not a claim", t.s.RunID)
			return nil
		}
		t.holdClaim(ctx, res)
		t.note(ctx, "claimed run %d until %s", t.s.RunID, res.TakenUntil.UTC().Format(time.RFC3339))
		return nil
	}
	switch k := refusal(err); {
	case k == activities.ErrTCConflict:
		t.note(ctx, "claim of run %d refused (409)", t.s.RunID)
		return t.reconcileWithTC(ctx)
	case k != "":
		t.note(ctx, "claim of run %d answered %s: nothing more to do", t.s.RunID, k)
		t.end(signals.PhaseResolved)
		return nil
	}
	return err
}

// holdClaim records a claim or reclaim reply.
func (t *task) holdClaim(ctx workflow.Context, res activities.ClaimResult) {
	t.s.Claimed = true
	t.readQueueClock(res.QueueClock)
	t.s.TakenUntil = res.TakenUntil
	t.s.ClaimRepliedAt = res.RepliedAt
	if t.s.ClaimRepliedAt.IsZero() {
		// Without the reply time the claim period is unknown; measuring
		// it from now keeps the next reclaim in the future.
		t.s.ClaimRepliedAt = workflow.Now(ctx)
	}
	t.settlePhase()
}

// ours tells whether an event is about the task's current BuildRequest; a
// stale one (an earlier request of a rerun task) changes nothing.
func (t *task) ours(ctx workflow.Context, brid int64) bool {
	if brid == t.s.BuildRequestID {
		return true
	}
	t.note(ctx, "BuildRequest %d is not the task's BuildRequest %d: ignored", brid, t.s.BuildRequestID)
	return false
}

// learnBuilder fills in the builder of an adopted task from its events.
func (t *task) learnBuilder(name string) {
	if t.s.BuilderName == "" && name != "" {
		t.s.BuilderName = name
	}
}
