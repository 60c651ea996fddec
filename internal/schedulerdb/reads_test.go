package schedulerdb_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

func TestBuildRequestAndBuildsFollowTheMaster(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		res := inject(t, db, task("readsTaskXXXXXXXXXXXXw"))
		brid := res.BuildRequestID

		br, err := db.BuildRequest(ctx, brid)
		if err != nil {
			t.Fatal(err)
		}
		if br.ID != brid || br.BuilderName != "WINNT 5.2 mozilla-beta build" || br.Complete || br.Results != nil ||
			br.ClaimedAt != 0 || br.ClaimedByName != "" || br.CompleteAt != nil || br.BuildsetID == 0 {
			t.Errorf("fresh request %+v", br)
		}
		if builds, err := db.Builds(ctx, brid); err != nil || len(builds) != 0 {
			t.Errorf("Builds of a pending request = %v, %v", builds, err)
		}

		// First attempt ends in RETRY, the second succeeds.
		t0 := time.Now().Unix()
		claim(t, db, brid, t0)
		first := startBuild(t, db, brid, 41, t0+5)
		retry(t, db, brid, t0+100)
		claim(t, db, brid, t0+200)
		second := startBuild(t, db, brid, 42, t0+205)

		br, err = db.BuildRequest(ctx, brid)
		if err != nil {
			t.Fatal(err)
		}
		if br.ClaimedAt != t0+200 || br.ClaimedByName != "bm01.build.mozilla.org:/builds/buildbot/build1/master" || br.Complete {
			t.Errorf("claimed request %+v", br)
		}

		finish(t, db, brid, 0, t0+900)
		br, err = db.BuildRequest(ctx, brid)
		if err != nil {
			t.Fatal(err)
		}
		if !br.Complete || br.Results == nil || *br.Results != 0 || br.CompleteAt == nil || *br.CompleteAt != t0+900 {
			t.Errorf("finished request %+v", br)
		}

		builds, err := db.Builds(ctx, brid)
		if err != nil {
			t.Fatal(err)
		}
		retried, finished := t0+100, t0+900
		want := []schedulerdb.Build{
			{ID: first, Number: 41, BuildRequestID: brid, StartTime: t0 + 5, FinishTime: &retried},
			{ID: second, Number: 42, BuildRequestID: brid, StartTime: t0 + 205, FinishTime: &finished},
		}
		if !reflect.DeepEqual(builds, want) {
			t.Errorf("Builds = %+v, want %+v", builds, want)
		}

		if _, err := db.BuildRequest(ctx, brid+1000); !errors.Is(err, schedulerdb.ErrNotFound) {
			t.Errorf("BuildRequest of a missing id: err = %v, want ErrNotFound", err)
		}
	})
}

func TestBranchIsWhatSelfServeWants(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		for _, c := range []struct{ stored, want string }{
			{"releases/mozilla-beta", "mozilla-beta"},
			{"projects/ash/", "ash"},
			{"try", "try"},
		} {
			in := task("branch" + c.want + "TaskXXXXXXXXXX")
			in.Sourcestamp.Branch = c.stored
			res := inject(t, db, in)
			if got, err := db.Branch(ctx, res.BuildRequestID); err != nil || got != c.want {
				t.Errorf("Branch for %q = %q, %v; want %q", c.stored, got, err, c.want)
			}
		}
		if _, err := db.Branch(ctx, 999999); !errors.Is(err, schedulerdb.ErrNotFound) {
			t.Errorf("Branch of a missing request: err = %v, want ErrNotFound", err)
		}
	})
}

func TestTaskIDTellsOursFromOthers(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		ctx := testCtx(t)
		ours := inject(t, db, task("oursTaskXXXXXXXXXXXXXw")).BuildRequestID
		ours2 := inject(t, db, task("ours2TaskXXXXXXXXXXXXw")).BuildRequestID
		previous := previousBridgeRequest(t, db, "previousTaskXXXXXXXXXw")
		foreign := insertRequest(t, db, "taskId:foreignTaskXXXXXXXXXXw", "Triggered by Treeherder", "linux64 try build")
		nightly := insertRequest(t, db, nil, "The Nightly scheduler named 'nightly' triggered this build", "linux64 nightly")
		lookalike := insertRequest(t, db, "taskId:lookalikeTaskXXXXXXXw", "created by bbb for task lookalikeTaskXXXXXXXw", "linux64 try build")

		for _, c := range []struct {
			brid     int64
			wantTask string
			wantOurs bool
		}{
			{ours, "oursTaskXXXXXXXXXXXXXw", true},
			{previous, "previousTaskXXXXXXXXXw", true},
			{foreign, "foreignTaskXXXXXXXXXXw", false},
			{nightly, "", false},
			{lookalike, "lookalikeTaskXXXXXXXw", false},
		} {
			id, isOurs, err := db.TaskID(ctx, c.brid)
			if err != nil || id != c.wantTask || isOurs != c.wantOurs {
				t.Errorf("TaskID(%d) = %q, %v, %v; want %q, %v", c.brid, id, isOurs, err, c.wantTask, c.wantOurs)
			}
		}
		if _, _, err := db.TaskID(ctx, 999999); !errors.Is(err, schedulerdb.ErrNotFound) {
			t.Errorf("TaskID of a missing request: err = %v, want ErrNotFound", err)
		}

		// A merged build's request_ids.
		got, err := db.TasksForRequests(ctx, []int64{ours, foreign, ours2, nightly, previous, 999999, lookalike})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{ours: "oursTaskXXXXXXXXXXXXXw", ours2: "ours2TaskXXXXXXXXXXXXw", previous: "previousTaskXXXXXXXXXw"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("TasksForRequests = %v, want %v", got, want)
		}
		if got, err := db.TasksForRequests(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("TasksForRequests(nil) = %v, %v", got, err)
		}

		if brid, runID, found, err := db.TaskRow(ctx, "oursTaskXXXXXXXXXXXXXw"); err != nil || !found || brid != ours || runID != 0 {
			t.Errorf("TaskRow(ours) = %d, %d, %v, %v", brid, runID, found, err)
		}
		if _, _, found, err := db.TaskRow(ctx, "previousTaskXXXXXXXXXw"); err != nil || found {
			t.Errorf("TaskRow of a previous bridge's task = found %v, %v; want not found", found, err)
		}
	})
}

// A merged build carries up to 100 request ids, all mapped in one call.
func TestTasksForAMergedBuildsRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		want := map[int64]string{}
		var brids []int64
		for i := range 100 {
			id := fmt.Sprintf("mergedTask%03dXXXXXXXXw", i)
			brid := previousBridgeRequest(t, db, id)
			want[brid] = id
			brids = append(brids, brid)
		}
		got, err := db.TasksForRequests(testCtx(t), brids)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("TasksForRequests = %v, %v; want %v", got, err, want)
		}
	})
}
