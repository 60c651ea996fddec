package workflows

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

const adoptedBRID = int64(3990)

// adopt starts the workflow as the sweep does for a previous bridge's
// BuildRequest: no task-pending signal, TaskStart.Adopt set.
func (w *world) adopt() {
	w.env.ExecuteWorkflow(signals.TaskWorkflowType, signals.TaskStart{TaskID: taskID, Timing: testTiming,
		Adopt: &signals.Adoption{BuildRequestID: adoptedBRID}}, (*ResumeState)(nil))
}

func TestAdoptClaimedRunIsReclaimed(t *testing.T) {
	w := newWorld(t)
	w.setTC(func(st *activities.TaskStatus) {
		st.Runs[0].State, st.Runs[0].TakenUntil = runRunning, t0.Add(600*time.Second)
	})
	w.row = activities.BuildRequestState{BuildRequestID: adoptedBRID, ClaimedAt: t0.Add(-time.Hour).Unix(), Builds: 1, RunningBuilds: 1}
	w.signal(300*time.Second, signals.BuildFinishedName, finished(adoptedBRID, 40, signals.ResultSuccess))
	w.adopt()
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "ReadBuildRequest", "ReclaimRun", "CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ReclaimRun", 0, 0)
	if got := w.callsOf("ReadBuildRequest")[0].Arg; got != adoptedBRID {
		t.Errorf("read BuildRequest %v", got)
	}
	st := w.query()
	if st.BuildRequestID != adoptedBRID || st.BuilderName != builder || st.Phase != signals.PhaseResolved {
		t.Errorf("final state %+v", st)
	}
	if w.attrs["BuildRequestId"] != adoptedBRID || w.attrs["BuilderName"] != builder {
		t.Errorf("search attributes %v", w.attrs)
	}
}

func TestAdoptPendingRunWithRunningBuildIsClaimed(t *testing.T) {
	w := newWorld(t)
	w.row = activities.BuildRequestState{BuildRequestID: adoptedBRID, ClaimedAt: t0.Add(-time.Minute).Unix(), Builds: 1, RunningBuilds: 1}
	w.signal(300*time.Second, signals.BuildFinishedName, finished(adoptedBRID, 41, signals.ResultFailure))
	w.adopt()
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "ReadBuildRequest", "ClaimRun", "CreateArtifacts", "ReportFailed"})
	w.requireCallAt("ClaimRun", 0, 0)
	if r := w.run(0); r.State != runFailed {
		t.Errorf("TC run 0 is %s", r.State)
	}
}

func TestAdoptPendingRunWaitsForItsBuild(t *testing.T) {
	w := newWorld(t)
	w.row = activities.BuildRequestState{BuildRequestID: adoptedBRID}
	w.signal(30*time.Second, signals.BuildStartedName, started(adoptedBRID, 42))
	w.signal(90*time.Second, signals.BuildFinishedName, finished(adoptedBRID, 42, signals.ResultSuccess))
	w.adopt()
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "ReadBuildRequest", "ClaimRun", "CreateArtifacts", "ReportCompleted"})
	w.requireCallAt("ClaimRun", 0, 30*time.Second)
}

func TestAdoptTaskOverInTCCancelsItsBuildRequest(t *testing.T) {
	w := newWorld(t)
	w.setTC(func(st *activities.TaskStatus) {
		st.Runs[0].State, st.Runs[0].ReasonResolved = runException, reasonDeadlineExceeded
	})
	w.row = activities.BuildRequestState{BuildRequestID: adoptedBRID}
	w.adopt()
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "ReadBuildRequest", "ReadBuildRequest", "CancelBuildRequest"})
}
