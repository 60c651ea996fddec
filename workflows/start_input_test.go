package workflows

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// A task workflow started by an earlier bridge has its Timing in history as
// numbers of nanoseconds. It must still run on those values: here a 45 s
// check interval (the default is 60 s) finds the BuildRequest cancelled in
// Buildbot at 50 s on the second look, at 90 s.
func TestTaskStartedWithNumericTimingUsesIt(t *testing.T) {
	w := newWorld(t)
	w.at(50*time.Second, func() {
		cancelled := signals.ResultCancelled
		w.setRow(func(r *activities.BuildRequestState) { r.Complete, r.Results, r.ClaimedAt = true, &cancelled, 0 })
	})
	w.signal(0, signals.TaskPendingName, pending(0))
	w.env.ExecuteWorkflow(signals.TaskWorkflowType,
		json.RawMessage(`{"taskId":"`+taskID+`","timing":{"reclaimLead":300000000000,"finishedGrace":600000000000,"checkInterval":45000000000}}`),
		(*ResumeState)(nil))
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ReadBuildRequest", "ReadBuildRequest", "CancelTask"})
	w.requireCallAt("ReadBuildRequest", 0, 45*time.Second)
	w.requireCallAt("CancelTask", 0, 90*time.Second)
}
