package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
)

// The counting on a first-time-success lifecycle recorded by the e2e
// suite (the replay test's history): one start, task-pending +
// build-started + build-finished, five timers, three search-attribute
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
	want := Actions{WorkflowStarts: 1, Signals: 3, Timers: 5, Upserts: 3, LocalActivityWTs: 5, MemoUpdatesUnbill: 1,
		Reclaims: 2, ReclaimActions: 4}
	if got != want {
		t.Errorf("actions %+v\nwant    %+v", got, want)
	}
	if got.Total() != 17 {
		t.Errorf("total %d, want 17", got.Total())
	}
	if got.PerReclaim() != 2 {
		t.Errorf("per reclaim %.1f, want 2", got.PerReclaim())
	}
}
