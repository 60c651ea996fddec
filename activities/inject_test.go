package activities_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func TestInjectBuildRequest(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(testing.TB) string{
		"mariadb": testenv.MariaDBURL,
		"sqlite":  testenv.SQLiteURL,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBridge(t, bridgeOptions{dbURL: url(t)})
			taskID := b.createTask(t, taskSpec{
				priority: "high",
				payload: `{"buildername": "WINNT 5.2 mozilla-beta build",
					"sourcestamp": {"branch": "https://hg.mozilla.org/releases/mozilla-beta", "revision": "0123456789ab"},
					"properties": {"product": "firefox", "version": "57.0b3", "build_number": 2}}`,
			})
			var prep activities.Prepared
			b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
			in := *prep.Injection
			scheduled := time.Now().Add(-time.Hour).Truncate(time.Second)
			in.TaskID, in.RunID, in.SubmittedAt = taskID, 0, scheduled

			var res activities.InjectResult
			b.must(t, &res, b.acts.InjectBuildRequest, in)
			if !res.Created || res.BuildRequestID == 0 {
				t.Fatalf("inject = %+v, want a new BuildRequest", res)
			}
			row := readInjected(t, b.db.SQL(), res.BuildRequestID)
			want := injectedRow{
				builder: "WINNT 5.2 mozilla-beta build", priority: 1, claimedAt: 0, complete: 0,
				submittedAt: scheduled.Unix(), branch: "releases/mozilla-beta", revision: "0123456789ab",
				externalID: "taskId:" + taskID, reason: "Created by BBB for task " + taskID,
			}
			if row.injectedRow != want {
				t.Errorf("rows = %+v\nwant   %+v", row.injectedRow, want)
			}
			for prop, value := range map[string]string{
				"product": `["firefox", "bbb"]`, "version": `["57.0b3", "bbb"]`, "build_number": `[2, "bbb"]`,
				"taskId": `["` + taskID + `", "bbb"]`,
			} {
				if got := normalizeSpaces(row.props[prop]); got != normalizeSpaces(value) {
					t.Errorf("property %s = %s, want %s", prop, row.props[prop], value)
				}
			}

			// A retried activity (or a duplicate event) writes nothing new.
			var again activities.InjectResult
			b.must(t, &again, b.acts.InjectBuildRequest, in)
			if again.BuildRequestID != res.BuildRequestID || again.Created {
				t.Errorf("repeat = %+v, want BuildRequest %d, not created", again, res.BuildRequestID)
			}
		})
	}
}

func TestInjectPropertyTooLongIsFinal(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	in := activities.InjectInput{
		TaskID: "fN1gQ8ZPRZOaXM0ypZq1Pw", BuilderName: "linux64-build",
		Properties: []activities.Property{
			{Name: "product", Value: []byte(`"firefox"`)},
			{Name: "installer_url", Value: []byte(`"` + strings.Repeat("x", 1100) + `"`)},
		},
	}
	var res activities.InjectResult
	err := b.run(t, &res, b.acts.InjectBuildRequest, in)
	wantFinal(t, err, activities.ErrPropertyTooLong)
	var n int
	if err := b.db.SQL().QueryRow("SELECT COUNT(*) FROM buildrequests").Scan(&n); err != nil || n != 0 {
		t.Errorf("buildrequests rows = %d (%v), want none written", n, err)
	}
}

func TestReadBuildRequest(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	brid := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", "linux64-build", "mozilla-central")

	var st activities.BuildRequestState
	b.must(t, &st, b.acts.ReadBuildRequest, brid)
	if st.BuildRequestID != brid || st.Complete || st.Results != nil || st.ClaimedAt != 0 || st.Builds != 0 {
		t.Errorf("fresh request = %+v", st)
	}

	// A master builds it, then the build finishes with FAILURE.
	db := b.db.SQL()
	now := time.Now().Unix()
	mustExec(t, db, "UPDATE buildrequests SET claimed_at = ?, claimed_by_name = 'bm1:/builds/m' WHERE id = ?", now, brid)
	mustExec(t, db, "INSERT INTO builds (number, brid, start_time) VALUES (7, ?, ?)", brid, now)
	b.must(t, &st, b.acts.ReadBuildRequest, brid)
	if st.ClaimedAt != now || st.Builds != 1 || st.RunningBuilds != 1 || st.Complete {
		t.Errorf("running request = %+v", st)
	}
	mustExec(t, db, "UPDATE builds SET finish_time = ? WHERE brid = ?", now+5, brid)
	mustExec(t, db, "UPDATE buildrequests SET complete = 1, results = 2, complete_at = ? WHERE id = ?", now+5, brid)
	st = activities.BuildRequestState{}
	b.must(t, &st, b.acts.ReadBuildRequest, brid)
	if !st.Complete || st.Results == nil || *st.Results != 2 || st.CompleteAt != now+5 || st.RunningBuilds != 0 {
		t.Errorf("finished request = %+v", st)
	}

	err := b.run(t, &st, b.acts.ReadBuildRequest, int64(987654))
	wantFinal(t, err, activities.ErrBuildRequestNotFound)
}

type injectedRow struct {
	builder            string
	priority           int
	claimedAt          int64
	complete           int
	submittedAt        int64
	branch, revision   string
	externalID, reason string
}

type injected struct {
	injectedRow
	props map[string]string
}

func readInjected(t *testing.T, db *sql.DB, brid int64) injected {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r injected
	var bsid int64
	err := db.QueryRowContext(ctx, `
		SELECT br.buildername, br.priority, br.claimed_at, br.complete, br.submitted_at,
		       ss.branch, ss.revision, bs.external_idstring, bs.reason, bs.id
		FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		JOIN sourcestamps ss ON ss.id = bs.sourcestampid WHERE br.id = ?`, brid).Scan(
		&r.builder, &r.priority, &r.claimedAt, &r.complete, &r.submittedAt,
		&r.branch, &r.revision, &r.externalID, &r.reason, &bsid)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT property_name, property_value FROM buildset_properties WHERE buildsetid = ?", bsid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	r.props = map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		r.props[n] = v
	}
	return r
}

func normalizeSpaces(s string) string { return strings.ReplaceAll(s, " ", "") }

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// injectDirect writes a BuildRequest for a task as the bridge does.
func injectDirect(t *testing.T, db *schedulerdb.DB, taskID, builder, branch string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := db.InjectBuildRequest(ctx, schedulerdb.Injection{
		TaskID: taskID, BuilderName: builder,
		Sourcestamp: schedulerdb.Sourcestamp{Branch: branch, Revision: "abcdef123456"},
		Properties:  []schedulerdb.Property{{Name: "product", Value: "firefox"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.BuildRequestID
}
