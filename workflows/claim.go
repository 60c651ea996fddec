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
	build := buildKey(ev.BuildRequestID, ev.Master, ev.BuildNumber)
	if err := t.retriedBy(ctx, build, "started", ev.Master, ev.BuildNumber); err != nil || t.done {
		return err
	}
	t.s.Build = build
	t.learnBuilder(ev.BuilderName)
	t.s.BuildRunning, t.s.RequestComplete, t.s.Stalled = true, false, false
	t.s.RowCompleteSince, t.s.RowResults = time.Time{}, nil
	if t.s.Claimed || t.s.RunOver {
		return nil
	}
	return t.claim(ctx)
}

// retriedBy handles an event (started or finished) of another build of the
// BuildRequest than the one running, whose finished event has not come.
// Buildbot builds a request again only after a RETRY, whose finished event
// is then late or lost: after an outage, redelivered events can come in
// another order than Buildbot sent them, even the new build's finish
// before its start. The run ends worker-shutdown and the task carries on
// with TC's next run, as the RETRY's event would have made it; that event,
// when it comes, is dropped (onFinished).
func (t *task) retriedBy(ctx workflow.Context, build, what, master string, number int) error {
	if !t.s.BuildRunning || t.s.Build == "" || build == "" || build == t.s.Build ||
		t.s.RunOver || t.s.Phase == signals.PhaseCancelling || t.s.alreadyKnown(t.s.Build) ||
		workflow.GetVersion(ctx, versionRebuildMeansRetry, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	prev := t.s.Build
	t.note(ctx, "build %d on %s %s for BuildRequest %d before the build before it had finished: Buildbot retried that one (its finished event is late or lost)",
		number, master, what, t.s.BuildRequestID)
	t.s.RetriedBuilds = append(t.s.RetriedBuilds, prev)
	if n := len(t.s.RetriedBuilds); n > maxRetriedBuilds {
		t.s.RetriedBuilds = t.s.RetriedBuilds[n-maxRetriedBuilds:]
	}
	t.s.BuildRunning = false
	return t.retry(ctx, false)
}

// maxRetriedBuilds bounds ResumeState.RetriedBuilds: a finished event later
// than that many rebuilds is not expected.
const maxRetriedBuilds = 8

// buildKey names a build of the request by the id of its finished event,
// so that a build whose finish was seen is not taken as running; "" when
// the event did not say which master ran it.
func buildKey(brid int64, master string, number int) string {
	if master == "" {
		return ""
	}
	return signals.FinishedEventID(brid, master, number)
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
