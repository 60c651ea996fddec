package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// The safety net: Pulse may drop a Buildbot event, and a build whose
// finished event never arrives must not be reclaimed forever. So the
// BuildRequest row is read on every reclaim, and every CheckInterval while
// no build has started (and while it runs, with PollRunning: a modern
// master's pushes are never resent).

// checking tells whether the row is polled on the CheckInterval timer.
func (t *task) checking() bool {
	return t.s.BuildRequestID != 0 && (!t.s.BuildRunning || t.s.PollRunning) && !t.s.RequestComplete && !t.s.RunOver && !t.done
}

// watchingRow tells whether a reclaim tick should read the row.
func (t *task) watchingRow() bool {
	return t.s.BuildRequestID != 0 && t.s.RowCompleteSince.IsZero() && !t.s.Stalled && !t.done
}

func (t *task) readRow(ctx workflow.Context) error {
	row, err := call[activities.BuildRequestState](ctx, schedulerDB, a.ReadBuildRequest, t.s.BuildRequestID)
	if err != nil {
		return err
	}
	return t.onRow(ctx, row)
}

// onRow acts on what the BuildRequest row says:
//   - complete without a result for the task (interrupted): run again;
//   - complete and never claimed: cancelled in Buildbot before it started,
//     so cancel the task in TC (the sweep reports the same; this is the
//     fallback if its signal is lost);
//   - complete with results: start the FinishedGrace clock; if no finished
//     event arrives by then, the task is resolved from the row;
//   - a build running that we heard nothing about: claim the run.
func (t *task) onRow(ctx workflow.Context, row activities.BuildRequestState) error {
	if row.Complete && row.Interrupted != "" && t.s.Phase != signals.PhaseCancelling && t.reruns(ctx) {
		return t.interrupted(ctx, row.Interrupted, t.rowArtifacts(ctx, row.Results))
	}
	switch {
	case row.Complete && row.ClaimedAt == 0:
		t.note(ctx, "BuildRequest %d was cancelled in Buildbot before it started", t.s.BuildRequestID)
		t.s.RequestComplete, t.s.BuildRunning = true, false
		return t.cancelInTC(ctx)
	case row.Complete && row.Results != nil:
		if t.s.RowCompleteSince.IsZero() && !t.s.Stalled {
			results := *row.Results
			t.s.RowCompleteSince, t.s.RowResults = workflow.Now(ctx), &results
			t.s.RequestComplete, t.s.BuildRunning = true, false
			t.note(ctx, "BuildRequest %d is complete (%s) but its finished event has not arrived",
				t.s.BuildRequestID, resultName(results))
		}
	case !row.Complete && row.RunningBuilds > 0 && !t.s.BuildRunning:
		t.note(ctx, "a build of BuildRequest %d is running but its started event has not arrived", t.s.BuildRequestID)
		t.s.BuildRunning = true
		if !t.s.Claimed && !t.s.RunOver {
			return t.claim(ctx)
		}
	}
	return nil
}

// rowGraceOver tells whether the finished event is overdue.
func (t *task) rowGraceOver(ctx workflow.Context) bool {
	return !t.s.RowCompleteSince.IsZero() && !workflow.Now(ctx).Before(t.s.RowCompleteSince.Add(t.timing.FinishedGrace))
}

// resolveFromRow resolves the run from the row's results, with only the
// build-result artifact: the properties and log came with the finished event.
func (t *task) resolveFromRow(ctx workflow.Context) error {
	results := *t.s.RowResults
	t.clearRowWatch()
	t.note(ctx, "no finished event within %s: resolving from the BuildRequest row", t.timing.FinishedGrace)
	if t.s.RunOver {
		t.end(signals.PhaseResolved)
		return nil
	}
	return t.resolve(ctx, results, t.rowArtifacts(ctx, &results))
}
