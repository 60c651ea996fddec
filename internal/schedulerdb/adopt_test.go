package schedulerdb_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

func TestAdoptingAPreviousBridgesRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		now := time.Now().Unix()
		pending := previousBridgeRequest(t, db, "adoptPendingTaskXXXXXw")
		running := previousBridgeRequest(t, db, "adoptRunningTaskXXXXXw")
		claim(t, db, running, now)
		startBuild(t, db, running, 3, now)
		done := previousBridgeRequest(t, db, "adoptDoneTaskXXXXXXXXw")
		claim(t, db, done, now)
		finish(t, db, done, 0, now+10)
		insertRequest(t, db, "taskId:adoptForeignTaskXXXXXw", "Triggered by Treeherder", "linux64 try build")
		inject(t, db, task("adoptOursTaskXXXXXXXXw"))
		// The same task as one of ours, left behind by the previous bridge.
		inject(t, db, task("adoptDupTaskXXXXXXXXXw"))
		stale := previousBridgeRequest(t, db, "adoptDupTaskXXXXXXXXXw")

		got, err := db.UnadoptedRequests(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []schedulerdb.Adoptable{
			{BuildRequestID: pending, TaskID: "adoptPendingTaskXXXXXw"},
			{BuildRequestID: running, TaskID: "adoptRunningTaskXXXXXw"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("UnadoptedRequests = %+v, want %+v", got, want)
		}
		if got, err := db.UnadoptedRequests(ctx, 1); err != nil || !reflect.DeepEqual(got, want[:1]) {
			t.Errorf("UnadoptedRequests(limit 1) = %+v, %v", got, err)
		}

		for range 2 { // idempotent
			if err := db.AdoptRequest(ctx, "adoptPendingTaskXXXXXw", pending, 0); err != nil {
				t.Fatalf("AdoptRequest: %v", err)
			}
		}
		if err := db.AdoptRequest(ctx, "adoptRunningTaskXXXXXw", running, 1); err != nil {
			t.Fatalf("AdoptRequest: %v", err)
		}
		if brid, runID, found, err := db.TaskRow(ctx, "adoptRunningTaskXXXXXw"); err != nil || !found || brid != running || runID != 1 {
			t.Errorf("TaskRow after adoption = %d, %d, %v, %v", brid, runID, found, err)
		}
		if got, err := db.UnadoptedRequests(ctx, 10); err != nil || len(got) != 0 {
			t.Errorf("UnadoptedRequests after adopting = %+v, %v", got, err)
		}

		// An adopted request is ours like an injected one: a re-sent
		// task-pending for its run finds it.
		in := task("adoptPendingTaskXXXXXw")
		if res := inject(t, db, in); res.Created || res.BuildRequestID != pending {
			t.Errorf("injection after adoption = %+v, want request %d", res, pending)
		}

		if err := db.AdoptRequest(ctx, "adoptDupTaskXXXXXXXXXw", stale, 0); err == nil {
			t.Error("adopting a request for a task already mapped to another request succeeded")
		}
		if err := db.AdoptRequest(ctx, "adoptOtherTaskXXXXXXXw", pending, 0); err == nil {
			t.Error("adopting another task's request succeeded")
		}
	})
}

// Many leftovers whose tasks the bridge already carries (more than one
// page) do not hide one that needs adopting.
func TestUnadoptedRequestsPagesPastMappedTasks(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		for i := range 230 {
			id := fmt.Sprintf("mapped%04dTaskXXXXXXXw", i)
			res, err := tx.ExecContext(ctx, "INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at) VALUES (?, ?, 0, ?)",
				"taskId:"+id, "Created by BBB for task "+id, now)
			if err != nil {
				t.Fatal(err)
			}
			bsid, _ := res.LastInsertId()
			if _, err := tx.ExecContext(ctx, "INSERT INTO buildrequests (buildsetid, buildername, submitted_at) VALUES (?, 'b', ?)", bsid, now); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO bbb_tasks (task_id, buildrequest_id, run_id, created_at) VALUES (?, ?, 0, ?)", id, 1000000+i, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		last := previousBridgeRequest(t, db, "lastUnmappedTaskXXXXXw")

		got, err := db.UnadoptedRequests(ctx, 5)
		want := []schedulerdb.Adoptable{{BuildRequestID: last, TaskID: "lastUnmappedTaskXXXXXw"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("UnadoptedRequests = %+v, %v; want %+v", got, err, want)
		}
	})
}

// A task-pending can reach a new bridge before its sweep adopted the
// previous bridge's request for the task: injection must take that request
// over instead of handing Buildbot a second one for the same task.
func TestInjectTakesOverAPreviousBridgesIncompleteRequest(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		waiting := previousBridgeRequest(t, db, "takeoverWaitingTaskXXw")
		finished := previousBridgeRequest(t, db, "takeoverFinishedTaskXw")
		claim(t, db, finished, time.Now().Unix())
		finish(t, db, finished, 0, time.Now().Unix())
		before := count(t, db, "buildrequests")

		got := inject(t, db, task("takeoverWaitingTaskXXw"))
		if got.BuildRequestID != waiting || got.Created {
			t.Errorf("inject over a previous bridge's waiting request = %+v, want {%d false}", got, waiting)
		}
		if n := count(t, db, "buildrequests"); n != before {
			t.Errorf("buildrequests grew from %d to %d: Buildbot got a second request", before, n)
		}
		if brid, _, found, err := db.TaskRow(ctx, "takeoverWaitingTaskXXw"); err != nil || !found || brid != waiting {
			t.Errorf("bbb_tasks row = %d %v %v, want the previous bridge's request %d", brid, found, err, waiting)
		}
		if _, ours, err := db.TaskID(ctx, waiting); err != nil || !ours {
			t.Errorf("taken-over request not ours: %v %v", ours, err)
		}

		// A finished request of the previous bridge is history: a new run
		// gets a new request.
		got = inject(t, db, task("takeoverFinishedTaskXw"))
		if got.BuildRequestID == finished || !got.Created {
			t.Errorf("inject after the previous bridge's request finished = %+v, want a new request", got)
		}
	})
}
