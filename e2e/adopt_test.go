package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 23: the new bridge replaces the old Python one. Tasks the old
// bridge injected (its BuildRequests, no bbb_tasks row, no workflow) are
// adopted when a Buildbot event about them arrives, and carried to their
// TC resolution without a second BuildRequest:
//   - one whose build was already running, unannounced, when the new bridge
//     came up, and finishes later (adopted through log_uploaded);
//   - one whose build starts after the new bridge came up (adopted
//     through started).
//
// The starters come up first and the worker last, so both adoptions go
// through the starter's SignalWithStart, not the worker's sweep. The old
// bridge's SQL runs on MariaDB (Mozilla's production) and on SQLite
// (Buildbot's own default).
func TestAdoptPreviousBridgesTasks(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"mariadb", "sqlite"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			testAdoptPreviousBridgesTasks(t, db == "sqlite")
		})
	}
}

func testAdoptPreviousBridgesTasks(t *testing.T, sqlite bool) {
	const (
		runningBuilder = "linux64 adopted running build"
		laterBuilder   = "linux64 adopted later build"
	)
	e := newEnv(t, envOptions{
		NoStarters: true,
		SQLite:     sqlite,
		NoWorker:   true,
		Script: bbsim.ByBuilder(map[string][]bbsim.Attempt{
			runningBuilder: {{Result: bbsim.SUCCESS, Duration: bbsim.Forever}},
			laterBuilder:   {{Result: bbsim.SUCCESS, Duration: 1500 * time.Millisecond}},
		}),
	})
	// The queue publishes task-pending for both while no bridge listens.
	running := e.createTask(taskSpec{Builder: runningBuilder})
	later := e.createTask(taskSpec{Builder: laterBuilder})
	for _, id := range []string{running, later} {
		if st := e.status(id); len(st.Runs) != 1 || st.Runs[0].State != "pending" {
			t.Fatalf("task %s: runs %+v, want run 0 pending", id, st.Runs)
		}
	}

	// The old bridge injected the first task; Buildbot started its build
	// before the new bridge came up, so that started event is lost.
	runningBR := g3InjectAsOldBridge(e, running, runningBuilder, "https://hg.mozilla.org/mozilla-central")
	build := g3WaitBuildOf(e, runningBR)

	e.startStarters(1)
	laterBR := g3InjectAsOldBridge(e, later, laterBuilder, "https://hg.mozilla.org/mozilla-central")
	if err := e.sim.FinishBuild(build.ID, bbsim.SUCCESS); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{running, later} {
		e.waitFor(20*time.Second, "a workflow adopting task "+id+" from its Buildbot event", func() bool {
			return g3WorkflowExists(e, id)
		})
	}
	e.startWorker()

	for id, brid := range map[string]int64{running: runningBR, later: laterBR} {
		g3ExpectCompleted(e, id, "adopted task")
		g3ExpectSingleLifecycle(e, id)
		if ids := e.buildRequests(id); len(ids) != 1 || ids[0] != brid {
			t.Errorf("task %s: BuildRequests %v, want only the old bridge's %d", id, ids, brid)
		}
		if r := e.status(id).Runs[0]; r.WorkerGroup != workerGroup || r.WorkerID != workerID {
			t.Errorf("task %s: run 0 claimed by %s/%s, want %s/%s", id, r.WorkerGroup, r.WorkerID, workerGroup, workerID)
		}
	}
}

// g3InjectAsOldBridge writes a task's BuildRequest the way the original
// Python bridge did (REFERENCE §B), with plain SQL in one transaction: a
// sourcestamp, a buildset carrying taskId:<id> and the bridge's reason,
// the payload's properties plus taskId as [value, "bbb"], and an
// unclaimed buildrequest submitted at the run's scheduled time. It writes
// nothing the new bridge would (no bbb_tasks row). It returns the brid.
func g3InjectAsOldBridge(e *env, taskID, builder, branchURL string) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	submitted := time.Time(e.status(taskID).Runs[0].Scheduled).Unix()
	props := map[string]any{"product": "firefox", "taskId": taskID}

	tx, err := e.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	insert := func(query string, args ...any) int64 {
		e.t.Helper()
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			e.t.Fatalf("old bridge's insert: %v", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			e.t.Fatal(err)
		}
		return id
	}
	// The original stored the branch as the URL's path.
	branch := branchURL[len("https://hg.mozilla.org/"):]
	ssid := insert(`INSERT INTO sourcestamps (branch, revision, patchid, repository, project)
		VALUES (?, ?, NULL, ?, ?)`, branch, "fedcba654321", "", "")
	bsid := insert(`INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at, complete)
		VALUES (?, ?, ?, ?, 0)`, "taskId:"+taskID, "Created by BBB for task "+taskID, ssid, submitted)
	for name, value := range props {
		v, err := json.Marshal([]any{value, "bbb"})
		if err != nil {
			e.t.Fatal(err)
		}
		insert(`INSERT INTO buildset_properties (buildsetid, property_name, property_value) VALUES (?, ?, ?)`,
			bsid, name, string(v))
	}
	brid := insert(`INSERT INTO buildrequests (buildsetid, buildername, priority, claimed_at, complete, submitted_at)
		VALUES (?, ?, 0, 0, 0, ?)`, bsid, builder, submitted)
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return brid
}

// g3WaitBuildOf waits until a build of brid runs and returns it.
func g3WaitBuildOf(e *env, brid int64) bbsim.BuildRecord {
	e.t.Helper()
	var found bbsim.BuildRecord
	e.waitFor(20*time.Second, "a build of the old bridge's BuildRequest", func() bool {
		for _, b := range e.sim.Builds() {
			if slices.Contains(b.BRIDs, brid) && b.ID != 0 {
				found = b
				return true
			}
		}
		return false
	})
	return found
}
