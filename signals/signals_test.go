package signals

import "testing"

// Operators type these IDs and names by hand (DESIGN §3: manual cancel with
// the temporal CLI), so they must stay exactly as documented.
func TestOperatorFacingNames(t *testing.T) {
	if got := TaskWorkflowID("fQ3-x_9"); got != "task-fQ3-x_9" {
		t.Errorf("TaskWorkflowID = %q, want task-fQ3-x_9", got)
	}
	if id, ok := TaskIDFromWorkflowID("task-fQ3-x_9"); !ok || id != "fQ3-x_9" {
		t.Errorf("TaskIDFromWorkflowID = %q, %v", id, ok)
	}
	if _, ok := TaskIDFromWorkflowID(SweepWorkflowID); ok {
		t.Errorf("the sweep's ID %q reads as a task workflow", SweepWorkflowID)
	}
	if CancelName != "cancel" || SweepWorkflowID != "buildbot-bridge-sweep" || QueryState != "state" {
		t.Errorf("operator-facing names changed: %q %q %q", CancelName, SweepWorkflowID, QueryState)
	}
}

// Event ids are derived from content (DESIGN §3), so a redelivered message
// maps to the same id and a different event never collides with it.
func TestEventIDsAreContentDerived(t *testing.T) {
	cases := map[string]string{
		PendingEventID(2):                    "pending:2",
		ExceptionEventID(1, "canceled"):      "exception:1:canceled",
		StartedEventID(4711, "bm01:/m", 12):  "started:4711:bm01:/m:12",
		FinishedEventID(4711, "bm01:/m", 12): "finished:4711:bm01:/m:12",
		CancelledEventID(4711):               "brcancelled:4711",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("event id %q, want %q", got, want)
		}
	}
	if StartedEventID(1, "m", 2) == StartedEventID(1, "m", 3) {
		t.Error("two builds of one request share a started id")
	}
}
