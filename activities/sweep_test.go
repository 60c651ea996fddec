package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// starts records the workflows the sweep starts. No Temporal server runs
// on this machine outside the lead's embedded one, so the start itself is
// recorded here; the workflow side is tested by the workflows package.
type starts struct {
	mu    sync.Mutex
	calls []startCall
	fail  error
}

type startCall struct {
	opts     client.StartWorkflowOptions
	workflow any
	args     []any
}

func (s *starts) ExecuteWorkflow(ctx context.Context, opts client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("start without a deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	s.calls = append(s.calls, startCall{opts: opts, workflow: workflow, args: args})
	return nil, nil
}

func (s *starts) recorded() []startCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]startCall(nil), s.calls...)
}

func TestSweepReportsCancelledBeforeStartOnce(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(testing.TB) string{
		"mariadb": testenv.MariaDBURL,
		"sqlite":  testenv.SQLiteURL,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBridge(t, bridgeOptions{dbURL: url(t), configure: func(d *activities.Deps) { d.Temporal = &starts{} }})
			db := b.db.SQL()
			cancelled := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", "win32-build", "mozilla-central")
			finished := injectDirect(t, b.db, "aT0Z9lDJRdWw0Xmpaq4TPA", "win32-build", "mozilla-central")
			pending := injectDirect(t, b.db, "Yx3kQ2mrR1Go0aN_pYp1fQ", "win32-build", "mozilla-central")
			now := time.Now().Unix()
			// BuildAPI's agent cancelling a pending request, and a master
			// finishing a build normally.
			mustExec(t, db, "UPDATE buildrequests SET complete = 1, results = 2, complete_at = ? WHERE id = ?", now, cancelled)
			mustExec(t, db, "UPDATE buildrequests SET claimed_at = ?, claimed_by_name = 'bm1:/builds/m', complete = 1, results = 0, complete_at = ? WHERE id = ?", now-60, now, finished)

			var res activities.SweepResult
			b.must(t, &res, b.acts.Sweep, activities.Watermark{})
			want := activities.CancelledRequest{TaskID: "fN1gQ8ZPRZOaXM0ypZq1Pw", BuildRequestID: cancelled}
			if len(res.Cancelled) != 1 || res.Cancelled[0] != want {
				t.Fatalf("cancelled = %+v, want only %+v (not the finished %d nor the pending %d)", res.Cancelled, want, finished, pending)
			}
			if res.Adopted != 0 {
				t.Errorf("adopted %d of our own requests", res.Adopted)
			}

			next := res.Next
			res = activities.SweepResult{}
			b.must(t, &res, b.acts.Sweep, next)
			if len(res.Cancelled) != 0 {
				t.Errorf("second pass reported %+v again", res.Cancelled)
			}
		})
	}
}

func TestSweepAdoptsPreviousBridgesRequests(t *testing.T) {
	t.Parallel()
	rec := &starts{}
	timing := signals.Timing{ReclaimLead: 20 * time.Second, FinishedGrace: 30 * time.Second, CheckInterval: 2 * time.Second}
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t), configure: func(d *activities.Deps) {
		d.Temporal = rec
		d.Timing = timing
		d.TaskQueue = "bbb-tasks"
	}})
	const taskID = "Qm9vZ2llV29vZ2llLUJvbw"
	brid := previousBridgeRequest(t, b.db, taskID)
	rec.fail = errors.New("frontend unavailable")

	// Temporal unreachable: retried, and the request is not marked ours.
	var res activities.SweepResult
	wantRetryable(t, b.run(t, &res, b.acts.Sweep, activities.Watermark{}))
	if _, _, found, _ := b.db.TaskRow(context.Background(), taskID); found {
		t.Fatal("request recorded as adopted although no workflow was started")
	}

	rec.fail = nil
	b.must(t, &res, b.acts.Sweep, activities.Watermark{})
	if res.Adopted != 1 {
		t.Fatalf("adopted %d, want 1", res.Adopted)
	}
	calls := rec.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d workflow starts, want 1", len(calls))
	}
	c := calls[0]
	if c.opts.ID != "task-"+taskID || c.workflow != "TaskWorkflow" || c.opts.TaskQueue != "bbb-tasks" ||
		c.opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
		t.Errorf("start = %q %v on %q conflict %v, want task-%s TaskWorkflow on bbb-tasks, use-existing",
			c.opts.ID, c.workflow, c.opts.TaskQueue, c.opts.WorkflowIDConflictPolicy, taskID)
	}
	if len(c.args) != 2 || c.args[1] != nil {
		t.Fatalf("args = %#v, want (TaskStart, nil)", c.args)
	}
	start, ok := c.args[0].(signals.TaskStart)
	if !ok || start.TaskID != taskID || start.Adopt == nil || start.Adopt.BuildRequestID != brid || start.Timing != timing {
		t.Errorf("TaskStart = %#v, want task %s adopting BuildRequest %d with the config's timing", c.args[0], taskID, brid)
	}
	gotBrid, _, found, err := b.db.TaskRow(context.Background(), taskID)
	if err != nil || !found || gotBrid != brid {
		t.Errorf("bbb_tasks row = %d found %v (%v), want BuildRequest %d", gotBrid, found, err, brid)
	}

	// Adopted once: later passes leave it alone.
	next := res.Next
	res = activities.SweepResult{}
	b.must(t, &res, b.acts.Sweep, next)
	if res.Adopted != 0 || len(rec.recorded()) != 1 {
		t.Errorf("second pass adopted %d (starts %d), want nothing new", res.Adopted, len(rec.recorded()))
	}
}

// previousBridgeRequest writes an incomplete BuildRequest as the original
// Python bridge did: reason "Created by BBB for task <id>", no bbb_tasks row.
func previousBridgeRequest(t *testing.T, db *schedulerdb.DB, taskID string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sqlDB := db.SQL()
	now := time.Now().Unix()
	res, err := sqlDB.ExecContext(ctx, "INSERT INTO sourcestamps (branch, revision, repository, project) VALUES ('mozilla-central', 'abcdef', '', '')")
	if err != nil {
		t.Fatal(err)
	}
	ssid, _ := res.LastInsertId()
	res, err = sqlDB.ExecContext(ctx, "INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at, complete) VALUES (?, ?, ?, ?, 0)",
		"taskId:"+taskID, "Created by BBB for task "+taskID, ssid, now)
	if err != nil {
		t.Fatal(err)
	}
	bsid, _ := res.LastInsertId()
	res, err = sqlDB.ExecContext(ctx, "INSERT INTO buildrequests (buildsetid, buildername, priority, claimed_at, complete, submitted_at) VALUES (?, 'linux64-build', 0, 0, 0, ?)", bsid, now)
	if err != nil {
		t.Fatal(err)
	}
	brid, _ := res.LastInsertId()
	return brid
}
