package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// The counting on a first-time-success lifecycle recorded by the e2e
// suite (the replay test's history): one start by SignalWithStart (one
// action with its task-pending signal), build-started + build-finished,
// five timers, three search-attribute
// upserts (the first with all four attributes, then TaskState twice), and
// local activities in five workflow tasks (ten markers in all).
func TestCountActionsOnARecordedLifecycle(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "workflows", "testdata", "histories", "2026-11-23", "success.json"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := client.HistoryFromJSON(bytes.NewReader(data), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := CountActions(h.GetEvents())
	// Its two reclaims each cost the workflow task woken by the reclaim
	// timer (ReclaimRun and ReadBuildRequest) and the next timer.
	want := Actions{WorkflowStarts: 1, Signals: 2, Timers: 5, Upserts: 3, LocalActivityWTs: 5, MemoUpdatesUnbill: 1,
		Reclaims: 2, ReclaimActions: 4}
	if got != want {
		t.Errorf("actions %+v\nwant    %+v", got, want)
	}
	if got.Total() != 16 {
		t.Errorf("total %d, want 16", got.Total())
	}
	if got.PerReclaim() != 2 {
		t.Errorf("per reclaim %.1f, want 2", got.PerReclaim())
	}
}

// A signal is one action of its own unless SignalWithStart wrote it with
// the start: after a plain start the first workflow task is scheduled
// before any signal can arrive.
func TestCountActionsTellsSignalWithStartFromStartThenSignal(t *testing.T) {
	ev := func(id int64, typ enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventType: typ}
	}
	started, signaled, scheduled := enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
	withStart := CountActions([]*historypb.HistoryEvent{ev(1, started), ev(2, signaled), ev(3, scheduled), ev(4, signaled)})
	if withStart.WorkflowStarts != 1 || withStart.Signals != 1 || withStart.Total() != 2 {
		t.Errorf("SignalWithStart then a signal: %+v (total %d), want 1 start and 1 signal", withStart, withStart.Total())
	}
	plain := CountActions([]*historypb.HistoryEvent{ev(1, started), ev(2, scheduled), ev(3, signaled), ev(4, signaled)})
	if plain.WorkflowStarts != 1 || plain.Signals != 2 || plain.Total() != 3 {
		t.Errorf("start, then two signals: %+v (total %d), want 1 start and 2 signals", plain, plain.Total())
	}
}
