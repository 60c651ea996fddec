package workflows

import (
	"testing"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// Temporal Cloud bills each timer started and each search-attribute upsert
// (issue 16). These tests count them for first-time successes with the
// history counter of history_budget_test.go.

// A build's started and finished events that reach the workflow together
// are handled in one workflow task, which writes the search attributes once
// (resolved) and starts no reclaim timer. Handled one by one they cost an
// upsert (running) that was never seen, since upserts in one task show
// together, and a reclaim timer that the finish cancelled at once.
func TestEventsThatComeTogetherAreHandledTogether(t *testing.T) {
	w := newWorld(t)
	c := countCommands(w)
	at := testTiming.CheckInterval / 4
	w.at(at, func() {
		w.buildStarts()
		w.env.SignalWorkflow(signals.BuildStartedName, started(brid, 30))
		w.buildEnds(signals.ResultSuccess)
		w.env.SignalWorkflow(signals.BuildFinishedName, finished(brid, 30, signals.ResultSuccess))
	})
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	// pending (with the builder and BuildRequest), resolved, and the memo.
	if c.upserts != 3 {
		t.Errorf("%d search attribute and memo upserts, want 3", c.upserts)
	}
	if c.timers != 2 || c.canceled != 0 {
		t.Errorf("%d timers started and %d cancelled, want 2 (row check, settle) and none cancelled", c.timers, c.canceled)
	}
	if got := w.attrs[signals.AttrTaskState.GetName()]; got != signals.PhaseResolved {
		t.Errorf("TaskState %v, want %s", got, signals.PhaseResolved)
	}
}
