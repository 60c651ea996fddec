package schedulerdb_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

func TestInjectWritesWhatBuildbotReads(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		scheduled := time.Date(2017, 8, 15, 10, 30, 0, 0, time.UTC)
		res := inject(t, db, schedulerdb.Injection{
			TaskID:      "fNlJPw2NRSe6bS9SfrYq5Q",
			RunID:       0,
			BuilderName: "release-mozilla-beta-firefox_source",
			Sourcestamp: schedulerdb.Sourcestamp{
				Branch:     "releases/mozilla-beta",
				Revision:   "3f1a2b4c5d6e",
				Repository: "https://hg.mozilla.org/releases/mozilla-beta",
				Project:    "mozilla-beta",
			},
			Properties: []schedulerdb.Property{
				{Name: "product", Value: "firefox"},
				{Name: "version", Value: "56.0b3"},
				{Name: "build_number", Value: 2},
				{Name: "locales", Value: []string{"de", "fr"}},
			},
			Priority:    1,
			SubmittedAt: scheduled,
		})
		if !res.Created || res.BuildRequestID == 0 {
			t.Fatalf("result %+v, want a created request", res)
		}

		var (
			bsid, ssid, priority, submitted int64
			claimedAt, complete             sql.NullInt64
			results, completeAt             sql.NullInt64
			builder                         string
			claimedBy, incarnation          sql.NullString
		)
		if err := db.SQL().QueryRowContext(ctx,
			`SELECT buildsetid, buildername, priority, claimed_at, claimed_by_name, claimed_by_incarnation,
			        complete, results, submitted_at, complete_at FROM buildrequests WHERE id = ?`, res.BuildRequestID).Scan(
			&bsid, &builder, &priority, &claimedAt, &claimedBy, &incarnation, &complete, &results, &submitted, &completeAt); err != nil {
			t.Fatalf("read buildrequest: %v", err)
		}
		if builder != "release-mozilla-beta-firefox_source" || priority != 1 {
			t.Errorf("buildrequest builder %q priority %d", builder, priority)
		}
		if !claimedAt.Valid || claimedAt.Int64 != 0 {
			t.Errorf("claimed_at = %v, want 0 (not NULL: masters select claimed_at < ?)", claimedAt)
		}
		if claimedBy.Valid || incarnation.Valid || results.Valid || completeAt.Valid {
			t.Errorf("claimed_by_name %v, incarnation %v, results %v, complete_at %v: want all NULL", claimedBy, incarnation, results, completeAt)
		}
		if !complete.Valid || complete.Int64 != 0 {
			t.Errorf("complete = %v, want 0", complete)
		}
		if submitted != scheduled.Unix() {
			t.Errorf("buildrequests.submitted_at %d, want the run's scheduled time %d", submitted, scheduled.Unix())
		}

		var (
			external, reason string
			bsSubmitted      int64
			bsComplete       int
			bsResults        sql.NullInt64
		)
		if err := db.SQL().QueryRowContext(ctx,
			"SELECT external_idstring, reason, sourcestampid, submitted_at, complete, results FROM buildsets WHERE id = ?", bsid).Scan(
			&external, &reason, &ssid, &bsSubmitted, &bsComplete, &bsResults); err != nil {
			t.Fatalf("read buildset: %v", err)
		}
		if external != "taskId:fNlJPw2NRSe6bS9SfrYq5Q" {
			t.Errorf("external_idstring %q", external)
		}
		if reason != "Created by BBB for task fNlJPw2NRSe6bS9SfrYq5Q" {
			t.Errorf("reason %q", reason)
		}
		if bsSubmitted != scheduled.Unix() || bsComplete != 0 || bsResults.Valid {
			t.Errorf("buildset submitted_at %d complete %d results %v", bsSubmitted, bsComplete, bsResults)
		}

		var (
			branch, revision sql.NullString
			patchid          sql.NullInt64
			repository, proj string
		)
		if err := db.SQL().QueryRowContext(ctx,
			"SELECT branch, revision, patchid, repository, project FROM sourcestamps WHERE id = ?", ssid).Scan(
			&branch, &revision, &patchid, &repository, &proj); err != nil {
			t.Fatalf("read sourcestamp: %v", err)
		}
		if branch.String != "releases/mozilla-beta" || revision.String != "3f1a2b4c5d6e" || patchid.Valid ||
			repository != "https://hg.mozilla.org/releases/mozilla-beta" || proj != "mozilla-beta" {
			t.Errorf("sourcestamp %v %v %v %q %q", branch, revision, patchid, repository, proj)
		}

		props := buildsetProperties(t, db, bsid)
		want := map[string]string{
			"product":      `["firefox","bbb"]`,
			"version":      `["56.0b3","bbb"]`,
			"build_number": `[2,"bbb"]`,
			"locales":      `[["de","fr"],"bbb"]`,
			"taskId":       `["fNlJPw2NRSe6bS9SfrYq5Q","bbb"]`,
		}
		if !reflect.DeepEqual(props, want) {
			t.Errorf("buildset_properties\n got %v\nwant %v", props, want)
		}
		// The master does `value, source = json.loads(property_value)`.
		for name, raw := range props {
			var pair []any
			if err := json.Unmarshal([]byte(raw), &pair); err != nil || len(pair) != 2 || pair[1] != "bbb" {
				t.Errorf("property %s = %s is not a [value, \"bbb\"] pair", name, raw)
			}
		}

		brid, runID, found, err := db.TaskRow(ctx, "fNlJPw2NRSe6bS9SfrYq5Q")
		if err != nil || !found || brid != res.BuildRequestID || runID != 0 {
			t.Errorf("TaskRow = %d, %d, %v, %v; want %d, 0, true", brid, runID, found, err, res.BuildRequestID)
		}

		// A master polling for work finds it, high priority first.
		var first int64
		if err := db.SQL().QueryRowContext(ctx,
			`SELECT br.id FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
			 WHERE br.complete = 0 AND br.claimed_at < ? AND br.buildername = ?
			 ORDER BY br.priority DESC, bs.submitted_at`,
			time.Now().Unix()-3600, "release-mozilla-beta-firefox_source").Scan(&first); err != nil {
			t.Fatalf("a master's poll finds nothing: %v", err)
		}
		if first != res.BuildRequestID {
			t.Errorf("master's poll found %d, want %d", first, res.BuildRequestID)
		}
	})
}

func buildsetProperties(t *testing.T, db *schedulerdb.DB, bsid int64) map[string]string {
	t.Helper()
	rows, err := db.SQL().QueryContext(testCtx(t),
		"SELECT property_name, property_value FROM buildset_properties WHERE buildsetid = ?", bsid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	props := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if _, dup := props[n]; dup {
			t.Errorf("property %s written twice", n)
		}
		props[n] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return props
}

func TestInjectEmptySourcestampAndNormalPriority(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		in := task("Y3Ju5E2pR0KkYzL6cGVgbA")
		in.Sourcestamp = schedulerdb.Sourcestamp{}
		res := inject(t, db, in)

		var (
			branch, revision    sql.NullString
			repository, project string
			priority            int
		)
		if err := db.SQL().QueryRowContext(testCtx(t),
			`SELECT ss.branch, ss.revision, ss.repository, ss.project, br.priority FROM buildrequests br
			 JOIN buildsets bs ON bs.id = br.buildsetid JOIN sourcestamps ss ON ss.id = bs.sourcestampid
			 WHERE br.id = ?`, res.BuildRequestID).Scan(&branch, &revision, &repository, &project, &priority); err != nil {
			t.Fatal(err)
		}
		if branch.Valid || revision.Valid || repository != "" || project != "" {
			t.Errorf("empty sourcestamp stored as branch %v revision %v repository %q project %q", branch, revision, repository, project)
		}
		if priority != 0 {
			t.Errorf("priority %d, want 0", priority)
		}
		if b, err := db.Branch(testCtx(t), res.BuildRequestID); err != nil || b != "" {
			t.Errorf("Branch = %q, %v; want \"\"", b, err)
		}
	})
}

func TestInjectIsIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		const id = "Kx2qv1VvTnq4a7Y3pJ8h0w"
		tables := []string{"sourcestamps", "buildsets", "buildset_properties", "buildrequests", "bbb_tasks"}
		snapshot := func() map[string]int {
			m := map[string]int{}
			for _, tb := range tables {
				m[tb] = count(t, db, tb)
			}
			return m
		}

		first := inject(t, db, task(id))
		before := snapshot()

		for _, c := range []struct {
			what  string
			runID int
		}{
			{"a retried activity (same run)", 0},
			{"a newer pending run while Buildbot still has the request", 1},
		} {
			in := task(id)
			in.RunID = c.runID
			res := inject(t, db, in)
			if res.Created || res.BuildRequestID != first.BuildRequestID {
				t.Errorf("%s: got %+v, want request %d not created", c.what, res, first.BuildRequestID)
			}
			if after := snapshot(); !reflect.DeepEqual(after, before) {
				t.Errorf("%s wrote rows: %v → %v", c.what, before, after)
			}
		}

		// Buildbot RETRYs the build: the same request is pending again, and
		// the task's next run rides on it.
		now := time.Now().Unix()
		claim(t, db, first.BuildRequestID, now)
		startBuild(t, db, first.BuildRequestID, 7, now)
		retry(t, db, first.BuildRequestID, now+60)
		in := task(id)
		in.RunID = 2
		if res := inject(t, db, in); res.Created || res.BuildRequestID != first.BuildRequestID {
			t.Errorf("after RETRY: got %+v, want request %d not created", res, first.BuildRequestID)
		}

		// Once the request is complete, a TC rerun (a newer run) needs a new one.
		claim(t, db, first.BuildRequestID, now+120)
		startBuild(t, db, first.BuildRequestID, 8, now+120)
		finish(t, db, first.BuildRequestID, 2, now+600)
		rerunScheduled := time.Unix(now+900, 0)
		in = task(id)
		in.RunID = 3
		in.SubmittedAt = rerunScheduled
		rerun := inject(t, db, in)
		if !rerun.Created || rerun.BuildRequestID == first.BuildRequestID {
			t.Fatalf("rerun of a finished task: got %+v, want a new request", rerun)
		}
		if brid, runID, _, _ := db.TaskRow(ctx, id); brid != rerun.BuildRequestID || runID != 3 {
			t.Errorf("bbb_tasks row (%d, run %d), want (%d, run 3)", brid, runID, rerun.BuildRequestID)
		}
		br, err := db.BuildRequest(ctx, rerun.BuildRequestID)
		if err != nil {
			t.Fatal(err)
		}
		if br.SubmittedAt != rerunScheduled.Unix() || br.Complete || br.ClaimedAt != 0 {
			t.Errorf("rerun request %+v, want pending, submitted at %d", br, rerunScheduled.Unix())
		}
		if n := count(t, db, "buildrequests"); n != 2 {
			t.Errorf("%d buildrequests, want 2", n)
		}

		// A late duplicate of an older run changes nothing.
		in = task(id)
		in.RunID = 1
		if res := inject(t, db, in); res.Created || res.BuildRequestID != rerun.BuildRequestID {
			t.Errorf("late duplicate of run 1: got %+v, want request %d not created", res, rerun.BuildRequestID)
		}
		if n := count(t, db, "buildsets"); n != 2 {
			t.Errorf("%d buildsets, want 2", n)
		}
	})
}

func TestConcurrentInjectionsOfOneTaskMakeOneRequest(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		const id = "c0ncurrentTaskXXXXXXXw"
		results := make([]schedulerdb.InjectResult, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Go(func() {
				<-start
				results[i], errs[i] = db.InjectBuildRequest(testCtx(t), task(id))
			})
		}
		close(start)
		wg.Wait()

		created := 0
		for i := range 8 {
			if errs[i] != nil {
				t.Fatalf("injection %d: %v", i, errs[i])
			}
			if results[i].BuildRequestID != results[0].BuildRequestID {
				t.Errorf("injection %d got request %d, injection 0 got %d", i, results[i].BuildRequestID, results[0].BuildRequestID)
			}
			if results[i].Created {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d injections report creating the request, want 1", created)
		}
		for table, want := range map[string]int{
			"buildrequests": 1, "buildsets": 1, "sourcestamps": 1, "buildset_properties": 2, "bbb_tasks": 1,
		} {
			if n := count(t, db, table); n != want {
				t.Errorf("%s has %d rows, want %d", table, n, want)
			}
		}
	})
}

// Several bridge processes (two pools here) write different tasks at the
// same time; none of them fails on a locked database.
func TestConcurrentWritersFromTwoPools(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, url string) {
		other := openDB(t, url)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 32 {
			pool := db
			if i%2 == 1 {
				pool = other
			}
			wg.Go(func() {
				in := task(fmt.Sprintf("parallelTask%010d", i))
				in.Properties = append(in.Properties, schedulerdb.Property{Name: "n", Value: i})
				_, err := pool.InjectBuildRequest(testCtx(t), in)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent injection: %v", err)
			}
		}
		if n := count(t, db, "buildrequests"); n != 32 {
			t.Errorf("%d buildrequests, want 32", n)
		}
		if n := count(t, db, "bbb_tasks"); n != 32 {
			t.Errorf("%d bbb_tasks rows, want 32", n)
		}
	})
}

func TestInjectRefusesWhatBuildbotCannotStore(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		// ["<s>","bbb"] is len(s)+10 characters: 1014 fills the column.
		fits := task("fitsTaskXXXXXXXXXXXXXw")
		fits.Properties = append(fits.Properties, schedulerdb.Property{Name: "comments", Value: strings.Repeat("x", 1014)})
		res := inject(t, db, fits)
		var bsid int64
		if err := db.SQL().QueryRowContext(ctx, "SELECT buildsetid FROM buildrequests WHERE id = ?", res.BuildRequestID).Scan(&bsid); err != nil {
			t.Fatal(err)
		}
		if v := buildsetProperties(t, db, bsid)["comments"]; len(v) != 1024 {
			t.Errorf("a 1024-character property came back with %d characters", len(v))
		}
		before := map[string]int{}
		for _, tb := range []string{"sourcestamps", "buildsets", "buildset_properties", "buildrequests", "bbb_tasks"} {
			before[tb] = count(t, db, tb)
		}

		tooLong := task("tooLongTaskXXXXXXXXXXw")
		tooLong.Properties = append(tooLong.Properties, schedulerdb.Property{Name: "comments", Value: strings.Repeat("x", 1015)})
		_, err := db.InjectBuildRequest(ctx, tooLong)
		if !errors.Is(err, schedulerdb.ErrPropertyTooLong) {
			t.Fatalf("a 1025-character property: err = %v, want ErrPropertyTooLong", err)
		}
		if !strings.Contains(err.Error(), `"comments"`) {
			t.Errorf("error %q does not name the property", err)
		}

		longBuilder := task("longBuilderTaskXXXXXXw")
		longBuilder.BuilderName = strings.Repeat("b", 257)
		if _, err := db.InjectBuildRequest(ctx, longBuilder); !errors.Is(err, schedulerdb.ErrFieldTooLong) {
			t.Errorf("a 257-character builder name: err = %v, want ErrFieldTooLong", err)
		}

		for tb, n := range before {
			if got := count(t, db, tb); got != n {
				t.Errorf("a refused injection left rows in %s: %d → %d", tb, n, got)
			}
		}
		if _, _, found, _ := db.TaskRow(ctx, "tooLongTaskXXXXXXXXXXw"); found {
			t.Error("a refused injection left a bbb_tasks row")
		}
	})
}

func TestBuilderNameIsData(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		const evil = "x'); DROP TABLE builds; --"
		in := task("evilBuilderTaskXXXXXXw")
		in.BuilderName = evil
		in.Properties = append(in.Properties, schedulerdb.Property{Name: "x'); DROP TABLE buildsets; --", Value: "'; --"})
		res := inject(t, db, in)
		br, err := db.BuildRequest(testCtx(t), res.BuildRequestID)
		if err != nil {
			t.Fatal(err)
		}
		if br.BuilderName != evil {
			t.Errorf("builder name stored as %q", br.BuilderName)
		}
		if n := count(t, db, "builds"); n != 0 {
			t.Errorf("builds has %d rows", n)
		}
		if n := count(t, db, "buildsets"); n != 1 {
			t.Errorf("buildsets has %d rows", n)
		}
	})
}

// Non-ASCII values are stored as JSON escapes, which any MySQL column
// charset keeps and Buildbot's json.loads turns back into the text.
func TestNonASCIIPropertiesSurvive(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		const comment = "Bug 1391102 — résumé 🦊 <a href=\"x\">&</a>"
		in := task("unicodeTaskXXXXXXXXXXw")
		in.Properties = append(in.Properties, schedulerdb.Property{Name: "comments", Value: comment})
		res := inject(t, db, in)
		br, err := db.BuildRequest(testCtx(t), res.BuildRequestID)
		if err != nil {
			t.Fatal(err)
		}
		raw := buildsetProperties(t, db, br.BuildsetID)["comments"]
		var pair []string
		if err := json.Unmarshal([]byte(raw), &pair); err != nil {
			t.Fatalf("stored %q: %v", raw, err)
		}
		if len(pair) != 2 || pair[0] != comment || pair[1] != "bbb" {
			t.Errorf("stored %q decodes to %q", raw, pair)
		}
	})
}

func TestEncodeProperty(t *testing.T) {
	for _, c := range []struct {
		value any
		want  string
	}{
		{"firefox", `["firefox","bbb"]`},
		{42, `[42,"bbb"]`},
		{true, `[true,"bbb"]`},
		{nil, `[null,"bbb"]`},
		{map[string]any{"b": 1, "a": "x"}, `[{"a":"x","b":1},"bbb"]`},
		{"é", `["\u00e9","bbb"]`},
		{"🦊", `["\ud83e\udd8a","bbb"]`},
		{"http://x/?a=1&b=<2>", `["http://x/?a=1&b=<2>","bbb"]`},
	} {
		got, err := schedulerdb.EncodeProperty(c.value)
		if err != nil || got != c.want {
			t.Errorf("EncodeProperty(%#v) = %s, %v; want %s", c.value, got, err, c.want)
		}
	}
	if _, err := schedulerdb.EncodeProperty(strings.Repeat("é", 200)); !errors.Is(err, schedulerdb.ErrPropertyTooLong) {
		t.Errorf("200 é (1210 characters escaped): err = %v, want ErrPropertyTooLong", err)
	}
	if _, err := schedulerdb.EncodeProperty(func() {}); err == nil {
		t.Error("a func value encoded without error")
	}
}
