package schedulerdb_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// forEachDB runs body against a fresh Buildbot scheduler DB on the real
// MariaDB server and in a SQLite file, the two databases the bridge
// supports. url is the database's SQLAlchemy URL, for opening it again.
// Such tests run in parallel: each has databases of its own.
func forEachDB(t *testing.T, body func(t *testing.T, db *schedulerdb.DB, url string)) {
	t.Helper()
	t.Parallel()
	for _, c := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"mariadb", testenv.MariaDBURL},
		{"sqlite", testenv.SQLiteURL},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url(t)
			db := openDB(t, url)
			ctx := testCtx(t)
			if err := db.CreateBuildbotSchema(ctx); err != nil {
				t.Fatalf("CreateBuildbotSchema: %v", err)
			}
			if err := db.EnsureBridgeTable(ctx); err != nil {
				t.Fatalf("EnsureBridgeTable: %v", err)
			}
			body(t, db, url)
		})
	}
}

func openDB(t *testing.T, url string) *schedulerdb.DB {
	t.Helper()
	db, err := schedulerdb.Open(testCtx(t), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// count returns the number of rows in one of Buildbot's tables.
func count(t *testing.T, db *schedulerdb.DB, table string) int {
	t.Helper()
	var n int
	// table is always a literal from the test itself.
	if err := db.SQL().QueryRowContext(testCtx(t), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func mustExec(t *testing.T, db *schedulerdb.DB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.SQL().ExecContext(testCtx(t), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func inject(t *testing.T, db *schedulerdb.DB, in schedulerdb.Injection) schedulerdb.InjectResult {
	t.Helper()
	res, err := db.InjectBuildRequest(testCtx(t), in)
	if err != nil {
		t.Fatalf("InjectBuildRequest(%s run %d): %v", in.TaskID, in.RunID, err)
	}
	return res
}

// task returns a minimal valid injection for a task, submitted now.
func task(id string) schedulerdb.Injection {
	return schedulerdb.Injection{
		TaskID:      id,
		BuilderName: "WINNT 5.2 mozilla-beta build",
		Sourcestamp: schedulerdb.Sourcestamp{Branch: "releases/mozilla-beta", Revision: "abcdef012345"},
		Properties:  []schedulerdb.Property{{Name: "product", Value: "firefox"}},
		SubmittedAt: time.Now(),
	}
}

// The helpers below play the parts of Buildbot masters and BuildAPI, with
// the statements REFERENCE §B gives for them.

func claim(t *testing.T, db *schedulerdb.DB, brid int64, at int64) {
	t.Helper()
	mustExec(t, db, "UPDATE buildrequests SET claimed_at = ?, claimed_by_name = ?, claimed_by_incarnation = ? WHERE id = ?",
		at, "bm01.build.mozilla.org:/builds/buildbot/build1/master", "pid1234-boot1500000000", brid)
}

func startBuild(t *testing.T, db *schedulerdb.DB, brid, number, at int64) int64 {
	t.Helper()
	res := mustExec(t, db, "INSERT INTO builds (number, brid, start_time) VALUES (?, ?, ?)", number, brid, at)
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func finish(t *testing.T, db *schedulerdb.DB, brid int64, results int, at int64) {
	t.Helper()
	mustExec(t, db, "UPDATE builds SET finish_time = ? WHERE brid = ? AND finish_time IS NULL", at, brid)
	mustExec(t, db, "UPDATE buildrequests SET complete = 1, results = ?, complete_at = ? WHERE id = ?", results, at, brid)
}

// retry is what a master does with a build that ended in RETRY.
func retry(t *testing.T, db *schedulerdb.DB, brid int64, at int64) {
	t.Helper()
	mustExec(t, db, "UPDATE builds SET finish_time = ? WHERE brid = ? AND finish_time IS NULL", at, brid)
	mustExec(t, db, "UPDATE buildrequests SET claimed_at = 0, claimed_by_name = NULL, claimed_by_incarnation = NULL WHERE id = ?", brid)
}

// cancelPending is BuildAPI's agent cancelling a request no master claimed.
func cancelPending(t *testing.T, db *schedulerdb.DB, brid int64, at int64) {
	t.Helper()
	mustExec(t, db, "UPDATE buildrequests SET complete = 1, results = 2, complete_at = ? WHERE id = ?", at, brid)
}

// insertRequest writes a buildset and request the way another system (or
// the previous, Python bridge) would, bypassing bbb_tasks.
func insertRequest(t *testing.T, db *schedulerdb.DB, externalID, reason any, builder string) int64 {
	t.Helper()
	now := time.Now().Unix()
	ss := mustExec(t, db, "INSERT INTO sourcestamps (branch, revision) VALUES (?, ?)", "try", "0123456789ab")
	ssid, err := ss.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	bs := mustExec(t, db, "INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at) VALUES (?, ?, ?, ?)",
		externalID, reason, ssid, now)
	bsid, err := bs.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	br := mustExec(t, db, "INSERT INTO buildrequests (buildsetid, buildername, submitted_at) VALUES (?, ?, ?)", bsid, builder, now)
	brid, err := br.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return brid
}

// previousBridgeRequest is a request the original bridge made for a task.
func previousBridgeRequest(t *testing.T, db *schedulerdb.DB, taskID string) int64 {
	t.Helper()
	return insertRequest(t, db, "taskId:"+taskID, "Created by BBB for task "+taskID, "linux64 try build")
}
