package workflows

import (
	"encoding/json"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// public/build-result.json is what Treeherder and other consumers read
// instead of guessing Buildbot's result from the TC resolution: these tests
// check the whole document the workflow hands to CreateArtifacts.

// timedFinish is the finished event of build number with the build's own
// times in it, as both kinds of master report them.
func timedFinish(number, results int, started, ended time.Duration) signals.BuildFinished {
	ev := finished(brid, number, results)
	ev.StartedAt, ev.FinishedAt = t0.Add(started), t0.Add(ended)
	return ev
}

// buildResultOf is the document of CreateArtifacts call #i, as JSON.
func (w *world) buildResultOf(i int) (activities.ArtifactsInput, string) {
	w.t.Helper()
	calls := w.callsOf("CreateArtifacts")
	if len(calls) <= i {
		w.t.Fatalf("CreateArtifacts call #%d missing; calls %v", i, w.callNames())
	}
	art := calls[i].Arg.(activities.ArtifactsInput)
	if art.BuildResult == nil {
		w.t.Fatalf("CreateArtifacts call #%d has no build result: %+v", i, art)
	}
	return art, docJSON(w.t, art.BuildResult)
}

func docJSON(t *testing.T, doc *activities.BuildResult) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventDoc is the document expected for build number of our request,
// reported by a finished event with the given times.
func eventDoc(number int, result string, code int, treeherder string, tc activities.TCResolution, started, ended time.Duration) *activities.BuildResult {
	b, m := builder, master
	st, en := t0.Add(started), t0.Add(ended)
	return &activities.BuildResult{
		Buildbot:       activities.BuildbotResult{Result: result, Code: code},
		Treeherder:     treeherder,
		Taskcluster:    tc,
		Builder:        &b,
		BuildNumber:    &number,
		Master:         &m,
		BuildRequestID: brid,
		StartedAt:      &st,
		FinishedAt:     &en,
		Source:         "finished event",
	}
}

func rowDoc(result string, code int, treeherder string, tc activities.TCResolution) *activities.BuildResult {
	b := builder
	return &activities.BuildResult{
		Buildbot:       activities.BuildbotResult{Result: result, Code: code},
		Treeherder:     treeherder,
		Taskcluster:    tc,
		Builder:        &b,
		BuildRequestID: brid,
		Source:         "request row",
	}
}

func (w *world) requireDoc(i int, want *activities.BuildResult) activities.ArtifactsInput {
	w.t.Helper()
	art, got := w.buildResultOf(i)
	if want := docJSON(w.t, want); got != want {
		w.t.Errorf("build-result.json of CreateArtifacts #%d:\n got  %s\n want %s", i, got, want)
	}
	return art
}

func TestBuildResultNamesEachResultAndItsResolution(t *testing.T) {
	cases := []struct {
		results    int
		name       string
		treeherder string
		tc         activities.TCResolution
	}{
		{signals.ResultSuccess, "SUCCESS", "success", activities.TCResolution{Call: "reportCompleted"}},
		{signals.ResultWarnings, "WARNINGS", "testfailed", activities.TCResolution{Call: "reportFailed"}},
		{signals.ResultFailure, "FAILURE", "busted", activities.TCResolution{Call: "reportFailed"}},
		{signals.ResultException, "EXCEPTION", "exception", activities.TCResolution{Call: "reportException", Reason: "malformed-payload"}},
		// A sheriff stopped the build in Buildbot: the bridge cancels the task.
		{signals.ResultCancelled, "CANCELLED", "usercancel", activities.TCResolution{Call: "cancelTask"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.buildRunsFrom(30*time.Second, 3)
			w.signal(45*time.Second, signals.BuildFinishedName, timedFinish(3, c.results, 29*time.Second, 44*time.Second))
			w.start(0)
			w.requireDone()
			art := w.requireDoc(0, eventDoc(3, c.name, c.results, c.treeherder, c.tc, 29*time.Second, 44*time.Second))
			if art.NoProperties || art.Properties["buildername"][0] != builder {
				t.Errorf("properties.json left out or empty beside the build result: %+v", art)
			}
		})
	}
}

func TestBuildResultOfRetryRunsAndTheRunAfter(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 5)
	w.at(100*time.Second, func() { w.buildEnds(signals.ResultRetry) })
	w.signal(100*time.Second, signals.BuildFinishedName, timedFinish(5, signals.ResultRetry, 30*time.Second, 99*time.Second))
	w.signal(101*time.Second, signals.TaskPendingName, pending(1))
	w.signal(130*time.Second, signals.BuildStartedName, started(brid, 6))
	w.signal(200*time.Second, signals.BuildFinishedName, timedFinish(6, signals.ResultSuccess, 130*time.Second, 199*time.Second))
	w.start(0)
	w.requireDone()
	if art := w.requireDoc(0, eventDoc(5, "RETRY", signals.ResultRetry, "retry",
		activities.TCResolution{Call: "reportException", Reason: "worker-shutdown"}, 30*time.Second, 99*time.Second)); art.RunID != 0 {
		t.Errorf("the RETRY build's document went to run %d, want 0", art.RunID)
	}
	if art := w.requireDoc(1, eventDoc(6, "SUCCESS", signals.ResultSuccess, "success",
		activities.TCResolution{Call: "reportCompleted"}, 130*time.Second, 199*time.Second)); art.RunID != 1 {
		t.Errorf("the second build's document went to run %d, want 1", art.RunID)
	}
}

// TC ended the run first: the CANCELLED finish brings no call of its own,
// and the document says how the run had ended.
func TestBuildResultAfterTCCancelNamesNoCall(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.tcCancelsAt(100 * time.Second)
	w.at(150*time.Second, func() { w.buildEnds(signals.ResultCancelled) })
	w.signal(150*time.Second, signals.BuildFinishedName, timedFinish(8, signals.ResultCancelled, 30*time.Second, 149*time.Second))
	w.start(0)
	w.requireDone()
	w.requireDoc(0, eventDoc(8, "CANCELLED", signals.ResultCancelled, "usercancel",
		activities.TCResolution{Call: "none", Why: "TC ended the run: canceled"}, 30*time.Second, 149*time.Second))
}

func TestBuildResultAfterOperatorCancelNamesTheOperator(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 8)
	w.signal(100*time.Second, signals.CancelName, signals.Cancel{Reason: "tree closed"})
	w.signal(101*time.Second, signals.TaskExceptionName, exception(0, reasonCanceled))
	w.signal(130*time.Second, signals.BuildFinishedName, timedFinish(8, signals.ResultCancelled, 30*time.Second, 129*time.Second))
	w.start(0)
	w.requireDone()
	w.requireDoc(0, eventDoc(8, "CANCELLED", signals.ResultCancelled, "usercancel",
		activities.TCResolution{Call: "none", Why: "an operator cancelled the task: tree closed"}, 30*time.Second, 129*time.Second))
}

// A lost finished event: the run is resolved from the row, which gives the
// result but no build number, master or times, and no properties.
func TestBuildResultFromTheRow(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 13)
	w.at(300*time.Second, func() { w.buildEnds(signals.ResultWarnings) })
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportFailed"})
	art := w.requireDoc(0, rowDoc("WARNINGS", signals.ResultWarnings, "testfailed", activities.TCResolution{Call: "reportFailed"}))
	if !art.NoProperties || art.LogURL != "" || art.RunID != 0 || !art.Expires.Equal(expires) {
		t.Errorf("artifacts from the row %+v, want only build-result.json for run 0, expiring with the task", art)
	}
}

// Workflows that reached the row's resolution before the change keep
// doing what they did: no artifact at all.
func TestBuildResultFromTheRowNotAttachedBeforeTheChange(t *testing.T) {
	w := newWorld(t)
	w.env.OnGetVersion(versionBuildResultArtifact, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	w.buildRunsFrom(30*time.Second, 13)
	w.at(300*time.Second, func() { w.buildEnds(signals.ResultFailure) })
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "ReadBuildRequest", "ReportFailed"})
}

// A master shutdown ends the build CANCELLED, but nobody cancelled the
// task: it runs again, and Treeherder shows a retry.
func TestBuildResultOfAnInterruptedBuild(t *testing.T) {
	w := newWorld(t)
	w.buildRunsFrom(30*time.Second, 5)
	w.at(100*time.Second, func() { w.buildEnds(signals.ResultCancelled) })
	ev := timedFinish(5, signals.ResultCancelled, 30*time.Second, 99*time.Second)
	ev.Interrupted = "the Buildbot master shut down while the build ran"
	w.signal(100*time.Second, signals.BuildFinishedName, ev)
	w.signal(101*time.Second, signals.TaskPendingName, pending(1))
	w.signal(130*time.Second, signals.BuildStartedName, started(brid+1, 1))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid+1, 1, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	want := eventDoc(5, "CANCELLED", signals.ResultCancelled, "retry",
		activities.TCResolution{Call: "reportException", Reason: "worker-shutdown"}, 30*time.Second, 99*time.Second)
	want.Interrupted = &ev.Interrupted
	w.requireDoc(0, want)
}

// A request collapsed into another completes SKIPPED without a build; the
// safety net finds it in the row.
func TestBuildResultOfACollapsedRequest(t *testing.T) {
	w := newWorld(t)
	const why = "Buildbot collapsed the request into a newer one on the same builder"
	w.at(30*time.Second, func() {
		w.setRow(func(r *activities.BuildRequestState) {
			skipped := signals.ResultSkipped
			r.Complete, r.Results, r.CompleteAt, r.Interrupted = true, &skipped, w.now().Unix(), why
		})
	})
	w.signal(130*time.Second, signals.BuildStartedName, started(brid+1, 1))
	w.signal(200*time.Second, signals.BuildFinishedName, finished(brid+1, 1, signals.ResultSuccess))
	w.start(0)
	w.requireDone()
	want := rowDoc("SKIPPED", signals.ResultSkipped, "retry", activities.TCResolution{Call: "reportException", Reason: "worker-shutdown"})
	reason := why
	want.Interrupted = &reason
	if art := w.requireDoc(0, want); !art.NoProperties || art.RunID != 0 {
		t.Errorf("artifacts of the collapsed request %+v, want only build-result.json for run 0", art)
	}
}
