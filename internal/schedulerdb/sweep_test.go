package schedulerdb_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

// sweeper calls CancelledBeforeStart the way the sweep workflow does,
// carrying the watermark through JSON as ContinueAsNew would.
type sweeper struct {
	t  *testing.T
	db *schedulerdb.DB
	w  schedulerdb.Watermark
}

func (s *sweeper) next(limit int) []schedulerdb.Cancelled {
	s.t.Helper()
	got, w, err := s.db.CancelledBeforeStart(testCtx(s.t), s.w, limit)
	if err != nil {
		s.t.Fatalf("CancelledBeforeStart: %v", err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		s.t.Fatal(err)
	}
	s.w = schedulerdb.Watermark{}
	if err := json.Unmarshal(b, &s.w); err != nil {
		s.t.Fatal(err)
	}
	return got
}

func (s *sweeper) expect(what string, limit int, want ...schedulerdb.Cancelled) {
	s.t.Helper()
	got := s.next(limit)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		s.t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func TestCancelledBeforeStartReportsEachOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		now := time.Now().Unix()
		a := inject(t, db, task("sweepATaskXXXXXXXXXXXw")).BuildRequestID
		b := inject(t, db, task("sweepBTaskXXXXXXXXXXXw")).BuildRequestID
		c := inject(t, db, task("sweepCTaskXXXXXXXXXXXw")).BuildRequestID
		e := inject(t, db, task("sweepETaskXXXXXXXXXXXw")).BuildRequestID
		ran := inject(t, db, task("sweepRanTaskXXXXXXXXXw")).BuildRequestID
		prev := previousBridgeRequest(t, db, "sweepPrevTaskXXXXXXXXw")
		foreign := insertRequest(t, db, "taskId:sweepForeignTaskXXXXw", "Triggered by Treeherder", "linux64 try build")

		s := &sweeper{t: t, db: db}
		s.expect("nothing cancelled yet", 10)

		cancelPending(t, db, b, now)
		s.expect("b cancelled", 10, schedulerdb.Cancelled{BuildRequestID: b, TaskID: "sweepBTaskXXXXXXXXXXXw", CompleteAt: now})

		// Same second as b, smaller id, seen only after b was reported.
		cancelPending(t, db, a, now)
		s.expect("a cancelled in b's second", 10, schedulerdb.Cancelled{BuildRequestID: a, TaskID: "sweepATaskXXXXXXXXXXXw", CompleteAt: now})

		// An earlier complete_at that commits late (another host's clock).
		cancelPending(t, db, prev, now-30)
		s.expect("previous bridge's request cancelled", 10,
			schedulerdb.Cancelled{BuildRequestID: prev, TaskID: "sweepPrevTaskXXXXXXXXw", CompleteAt: now - 30})

		// Someone else's cancellation and a build that ran are not reported.
		cancelPending(t, db, foreign, now)
		claim(t, db, ran, now)
		startBuild(t, db, ran, 1, now)
		finish(t, db, ran, 6, now+5)
		s.expect("foreign and claimed requests", 10)

		// Two at once, one per call.
		cancelPending(t, db, c, now+1)
		cancelPending(t, db, e, now+1)
		s.expect("first of two", 1, schedulerdb.Cancelled{BuildRequestID: c, TaskID: "sweepCTaskXXXXXXXXXXXw", CompleteAt: now + 1})
		s.expect("second of two", 1, schedulerdb.Cancelled{BuildRequestID: e, TaskID: "sweepETaskXXXXXXXXXXXw", CompleteAt: now + 1})
		s.expect("all reported", 1)
		s.expect("still all reported", 10)

		// A RETRY'd request is pending again with claimed_at 0; cancelling it
		// then is a cancellation before (re)start.
		r := inject(t, db, task("sweepRetryTaskXXXXXXXw")).BuildRequestID
		claim(t, db, r, now)
		startBuild(t, db, r, 2, now)
		retry(t, db, r, now+2)
		cancelPending(t, db, r, now+3)
		s.expect("retried then cancelled", 10, schedulerdb.Cancelled{BuildRequestID: r, TaskID: "sweepRetryTaskXXXXXXXw", CompleteAt: now + 3})
	})
}

// Rows that look like ours to SQL but are not cannot crowd ours out of a
// page.
func TestCancelledBeforeStartIsNotStarvedByLookalikes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		now := time.Now().Unix()
		for i := range 6 {
			id := fmt.Sprintf("lookalike%dTaskXXXXXXXw", i)
			brid := insertRequest(t, db, "taskId:"+id, "created by BBB for task "+id, "linux64 try build")
			cancelPending(t, db, brid, now-10)
		}
		ours := inject(t, db, task("oursAfterLookalikesXXw")).BuildRequestID
		cancelPending(t, db, ours, now)

		s := &sweeper{t: t, db: db}
		var got []schedulerdb.Cancelled
		for range 6 {
			got = append(got, s.next(2)...)
		}
		want := []schedulerdb.Cancelled{{BuildRequestID: ours, TaskID: "oursAfterLookalikesXXw", CompleteAt: now}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after paging past lookalikes: got %+v, want %+v", got, want)
		}
	})
}

func TestWatermarkAtSkipsOlderCancellations(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		now := time.Now()
		old := inject(t, db, task("oldCancelTaskXXXXXXXXw")).BuildRequestID
		cancelPending(t, db, old, now.Add(-time.Hour).Unix())
		fresh := inject(t, db, task("newCancelTaskXXXXXXXXw")).BuildRequestID

		s := &sweeper{t: t, db: db, w: schedulerdb.WatermarkAt(now)}
		s.expect("cancelled an hour before the sweep started", 10)
		cancelPending(t, db, fresh, now.Unix())
		s.expect("cancelled after", 10, schedulerdb.Cancelled{BuildRequestID: fresh, TaskID: "newCancelTaskXXXXXXXXw", CompleteAt: now.Unix()})
	})
}
