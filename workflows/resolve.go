package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// resolution is what TC hears about a Buildbot result (DESIGN §4).
type resolution int

const (
	resolveNothing     resolution = iota // SKIPPED, unknown: log, no TC call, the task stays
	resolveCompleted                     // SUCCESS: reportCompleted
	resolveFailed                        // WARNINGS, FAILURE: reportFailed
	resolveMalformed                     // EXCEPTION: reportException malformed-payload, as the original
	resolveRetry                         // RETRY: reportException worker-shutdown, rerunTask; Buildbot re-runs the request
	resolveCancelled                     // CANCELLED: cancelTask if the run is still ours
	resolveInterrupted                   // ended by Buildbot, not for the task: worker-shutdown, rerun on a new request
)

func resolutionFor(results int) resolution {
	switch results {
	case signals.ResultSuccess:
		return resolveCompleted
	case signals.ResultWarnings, signals.ResultFailure:
		return resolveFailed
	case signals.ResultException:
		return resolveMalformed
	case signals.ResultRetry:
		return resolveRetry
	case signals.ResultCancelled:
		return resolveCancelled
	}
	return resolveNothing
}

// TC's reasons for a run the bridge reports as exception.
const (
	reasonMalformedPayload = "malformed-payload"
	reasonWorkerShutdown   = "worker-shutdown"
)

// buildbotResults are Buildbot's result codes: their names, and the
// Treeherder result a run that ended with each shows as (the README's
// table of public/build-result.json).
var buildbotResults = [...]struct{ name, treeherder string }{
	signals.ResultSuccess:   {"SUCCESS", "success"},
	signals.ResultWarnings:  {"WARNINGS", "testfailed"},
	signals.ResultFailure:   {"FAILURE", "busted"},
	signals.ResultSkipped:   {"SKIPPED", "skipped"},
	signals.ResultException: {"EXCEPTION", "exception"},
	signals.ResultRetry:     {"RETRY", "retry"},
	signals.ResultCancelled: {"CANCELLED", "usercancel"},
}

// describeResult names a Buildbot result and gives its Treeherder result.
// An interrupted request runs the task again whatever its code says (a
// master shutdown ends the build CANCELLED, a collapse SKIPPED, and nobody
// cancelled or skipped anything), so it shows as a retry, like RETRY.
func describeResult(results int, interrupted bool) (name, treeherder string) {
	name, treeherder = fmt.Sprintf("unknown result %d", results), "unknown"
	if results >= 0 && results < len(buildbotResults) {
		name, treeherder = buildbotResults[results].name, buildbotResults[results].treeherder
	}
	if interrupted {
		treeherder = "retry"
	}
	return name, treeherder
}

func resultName(results int) string {
	name, _ := describeResult(results, false)
	return name
}

// onFinished handles the build of our BuildRequest finishing: claim if the
// started event was missed, attach the artifacts, resolve the run.
func (t *task) onFinished(ctx workflow.Context, ev signals.BuildFinished) error {
	if !t.ours(ctx, ev.BuildRequestID) {
		return nil
	}
	if slices.Contains(t.s.RetriedBuilds, signals.FinishedEventID(ev.BuildRequestID, ev.Master, ev.BuildNumber)) {
		t.note(ctx, "finished event of build %d on %s (%s) after it was taken as retried: nothing to do",
			ev.BuildNumber, ev.Master, resultName(ev.Results))
		return nil
	}
	if err := t.retriedBy(ctx, "finished", ev.BuildRequestID, ev.Master, ev.BuildNumber); err != nil || t.done {
		return err
	}
	t.learnBuilder(ev.BuilderName)
	countBuildResult(ctx, ev.Results)
	t.s.BuildRunning = false
	t.clearRowWatch()
	art := &activities.ArtifactsInput{
		TaskID:         t.id,
		Properties:     ev.Properties,
		LogURL:         ev.LogURL,
		Expires:        t.s.Expires,
		BuildRequestID: ev.BuildRequestID,
		BuildID:        ev.BuildID,
		BuildResult:    t.eventResult(ev),
	}
	if t.s.Phase == signals.PhaseCancelling {
		// TC already ended the run: the artifacts still tell the user
		// what happened, and no resolution call follows.
		t.s.RequestComplete = true
		art.BuildResult.Taskcluster = t.noResolution()
		if err := t.createArtifacts(ctx, art); err != nil {
			return err
		}
		t.end(signals.PhaseResolved)
		return nil
	}
	if t.s.RunOver {
		t.s.RequestComplete = true
		t.note(ctx, "run %d was already resolved in TC: nothing to report", t.s.RunID)
		t.end(signals.PhaseResolved)
		return nil
	}
	if ev.Interrupted != "" && t.reruns(ctx) {
		return t.interrupted(ctx, ev.Interrupted, art)
	}
	return t.resolve(ctx, ev.Results, art)
}

// interrupted handles a request Buildbot ended without a result for the
// task (its build cancelled by a master shutdown, or collapsed into
// another request): nobody asked for it to stop, so the task is neither
// lost nor cancelled. The run ends worker-shutdown and the next run gets a
// new BuildRequest, since this one is complete.
func (t *task) interrupted(ctx workflow.Context, why string, art *activities.ArtifactsInput) error {
	t.note(ctx, "BuildRequest %d ended without a result for the task: %s; run %d ends worker-shutdown and the next run gets a new BuildRequest",
		t.s.BuildRequestID, why, t.s.RunID)
	workflow.GetLogger(ctx).Warn("Buildbot ended the task's request without a result: the task runs again",
		"taskId", t.id, "buildRequestId", t.s.BuildRequestID, "cause", why)
	t.s.RequestComplete, t.s.BuildRunning = true, false
	t.clearRowWatch()
	if t.s.RunOver {
		t.note(ctx, "run %d was already resolved in TC: nothing to report", t.s.RunID)
		t.end(signals.PhaseResolved)
		return nil
	}
	markInterrupted(art, why)
	return t.report(ctx, resolveInterrupted, art)
}

// reruns tells whether an interrupted request reruns the task (see
// versionInterruptedReruns); only modern Buildbot reports one.
func (t *task) reruns(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, versionInterruptedReruns, workflow.DefaultVersion, 1) >= 1
}

func (t *task) clearRowWatch() {
	t.s.RowCompleteSince, t.s.RowResults = time.Time{}, nil
}

// resolve reports a Buildbot result to TC for RunID. art is nil when the
// result comes from the BuildRequest row of a workflow that began before
// versionBuildResultArtifact.
func (t *task) resolve(ctx workflow.Context, results int, art *activities.ArtifactsInput) error {
	how := resolutionFor(results)
	if how == resolveNothing {
		t.note(ctx, "Buildbot result %s needs no TC call: the task stays", resultName(results))
		t.stall(ctx)
		return nil
	}
	t.s.RequestComplete = how != resolveRetry
	// A claim that expired while the build ran (the reclaim came too late)
	// leaves TC with a newer pending run and refuses to resolve ours: the
	// build's result then belongs to the newer run. Bounded, since each
	// turn needs TC to have made yet another run.
	for turn := 0; ; turn++ {
		err := t.report(ctx, how, art)
		if how == resolveRetry {
			// retry decides whether the task goes on.
			return err
		}
		if t.done || refusal(err) != activities.ErrTCConflict || turn >= maxResolveTurns {
			return t.reported(err)
		}
		moved, serr := t.moveToNewerRun(ctx)
		if serr != nil || !moved {
			if serr == nil {
				t.end(signals.PhaseResolved)
			}
			return serr
		}
	}
}

// maxResolveTurns bounds how often one result is carried to a newer run.
const maxResolveTurns = 3

// reported ends the task after its resolution was sent, unless the answer
// was an error to retry (the workflow task fails and runs again).
func (t *task) reported(err error) error {
	if t.done {
		return nil
	}
	if err != nil && refusal(err) == "" {
		return err
	}
	t.end(signals.PhaseResolved)
	return nil
}

// report claims RunID if needed, attaches the artifacts and tells TC the
// result.
func (t *task) report(ctx workflow.Context, how resolution, art *activities.ArtifactsInput) error {
	if !t.s.Claimed {
		if err := t.claim(ctx); err != nil || t.done {
			return err
		}
		if !t.s.Claimed {
			t.note(ctx, "run %d is not claimed: cannot resolve it", t.s.RunID)
			t.end(signals.PhaseResolved)
			return nil
		}
	}
	if art != nil {
		if art.BuildResult != nil {
			art.BuildResult.Taskcluster = tcResolution(how)
		}
		if err := t.attachArtifacts(ctx, art); err != nil {
			return err
		}
	}
	var err error
	switch how {
	case resolveCompleted:
		err = callTCNoResult(ctx, t, "reportCompleted", a.ReportCompleted, t.ref())
		t.noteAnswer(ctx, "reportCompleted", err)
	case resolveFailed:
		err = callTCNoResult(ctx, t, "reportFailed", a.ReportFailed, t.ref())
		t.noteAnswer(ctx, "reportFailed", err)
	case resolveMalformed:
		err = t.reportException(ctx, reasonMalformedPayload)
	case resolveRetry:
		return t.retry(ctx, false)
	case resolveInterrupted:
		return t.retry(ctx, true)
	case resolveCancelled:
		_, err = callTC[activities.TaskStatus](ctx, t, a.CancelTask, t.id)
		t.noteAnswer(ctx, "cancelTask", err)
	}
	return err
}

// moveToNewerRun reads TC's status after it refused to resolve RunID with
// a 409 and, when a newer run is pending before the deadline, makes it the
// run the result goes to.
func (t *task) moveToNewerRun(ctx workflow.Context) (bool, error) {
	st, gone, err := t.taskStatus(ctx)
	if err != nil || gone {
		return false, err
	}
	latest := latestRun(st)
	if t.pastDeadline(ctx, st.Deadline) || latest == nil || latest.RunID <= t.s.RunID || latest.State != runPending {
		return false, nil
	}
	t.note(ctx, "TC made run %d pending while the build ran: the result goes to it", latest.RunID)
	t.s.RunID, t.s.Claimed, t.s.RunOver = latest.RunID, false, false
	return true, nil
}

// retry handles Buildbot's RETRY: the run ends as worker-shutdown and the
// task gets its next run (rerunTask is a no-op when TC already made the
// retry run). Buildbot re-runs the same BuildRequest, which now carries the
// new run; with fresh, the request is over and the new run gets its own.
func (t *task) retry(ctx workflow.Context, fresh bool) error {
	run := t.s.RunID
	if err := t.reportException(ctx, reasonWorkerShutdown); err != nil {
		if refusal(err) == "" {
			return err
		}
		if refusal(err) == activities.ErrTCConflict &&
			workflow.GetVersion(ctx, versionRetryOnExpiredClaim, workflow.DefaultVersion, 1) >= 1 {
			if t.s.RunID != run {
				// A reclaim while TC did not answer found the claim
				// expired and took TC's newer run: the retry is its.
				return t.retryOn(ctx, t.s.RunID, fresh)
			}
			// The claim expired while the build ran: TC's newer pending
			// run, if any, is the run the retry belongs to.
			moved, serr := t.moveToNewerRun(ctx)
			if serr != nil {
				return serr
			}
			if moved {
				return t.retryOn(ctx, t.s.RunID, fresh)
			}
		}
		t.end(signals.PhaseResolved)
		return nil
	}
	st, err := callTC[activities.TaskStatus](ctx, t, a.RerunTask, t.id)
	if err != nil {
		if refusal(err) == "" {
			return err
		}
		t.note(ctx, "rerunTask refused: %s", refusal(err))
		t.end(signals.PhaseResolved)
		return nil
	}
	t.readQueueClock(st.QueueClock)
	latest := latestRun(st)
	if latest == nil || latest.RunID <= t.s.RunID {
		t.note(ctx, "rerunTask made no new run (%s)", describeLatest(latest))
		t.end(signals.PhaseResolved)
		return nil
	}
	return t.retryOn(ctx, latest.RunID, fresh)
}

// retryOn carries the task on with runID after a RETRY (Buildbot builds
// the same request again) or an interrupted request (fresh: the run gets
// a new one).
func (t *task) retryOn(ctx workflow.Context, runID int, fresh bool) error {
	if fresh {
		return t.startRun(ctx, runID)
	}
	t.note(ctx, "Buildbot retries BuildRequest %d for run %d", t.s.BuildRequestID, runID)
	// A claim already held on runID (taken while TC did not answer the
	// RETRY's report) is kept, and reclaimed, until the rebuild starts.
	claimed := t.s.Claimed && t.s.RunID == runID
	t.s.RunID = runID
	t.s.Claimed, t.s.BuildRunning, t.s.RequestComplete = claimed, false, false
	t.s.NextCheck = workflow.Now(ctx).Add(t.timing.CheckInterval)
	t.s.Phase = signals.PhasePending
	return nil
}

func (t *task) reportException(ctx workflow.Context, reason string) error {
	err := callTCNoResult(ctx, t, "reportException "+reason, a.ReportException,
		activities.ExceptionInput{TaskID: t.id, RunID: t.s.RunID, Reason: reason})
	t.noteAnswer(ctx, "reportException "+reason, err)
	return err
}

// attachArtifacts attaches the artifacts to the run the result goes to.
// When TC did not answer until the claim was lost, the reclaim meanwhile
// took TC's newer run, and the result goes to that run: the artifacts
// follow it (they used to be refused on the old run and the newer one was
// resolved without them). Bounded as resolve's turns are.
func (t *task) attachArtifacts(ctx workflow.Context, art *activities.ArtifactsInput) error {
	for turn := 0; ; turn++ {
		run := t.s.RunID
		if err := t.createArtifacts(ctx, art); err != nil {
			return err
		}
		if t.s.RunID == run || t.done || !t.s.Claimed || turn >= maxResolveTurns ||
			workflow.GetVersion(ctx, versionArtifactsFollowNewerRun, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return nil
		}
		t.note(ctx, "the claim on run %d was lost while its artifacts were attached: attaching them to run %d", run, t.s.RunID)
	}
}

// createArtifacts attaches public/properties.json, public/build-result.json
// and the log reference.
// A refusal is noted and does not hold the resolution back.
func (t *task) createArtifacts(ctx workflow.Context, art *activities.ArtifactsInput) error {
	art.RunID = t.s.RunID
	err := callTCNoResult(ctx, t, "createArtifact", a.CreateArtifacts, *art)
	if err != nil && refusal(err) == "" {
		return err
	}
	t.noteAnswer(ctx, "artifacts", err)
	return nil
}

// stall keeps a task whose build ended with a result TC cannot be told:
// reclaims go on (if the run is ours) until TC ends the run; an unclaimed
// run is given up after its deadline.
func (t *task) stall(ctx workflow.Context) {
	t.s.Stalled, t.s.RequestComplete, t.s.BuildRunning = true, true, false
	t.clearRowWatch()
	if !t.s.Claimed && !t.s.Deadline.IsZero() {
		t.s.WaitUntil = t.onOurClock(t.s.Deadline).Add(t.timing.FinishedGrace)
	}
}
