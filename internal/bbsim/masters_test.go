package bbsim

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Three masters in two Sims poll one DB at once: every request is built
// exactly once, and no master reuses a build number.
func TestMastersShareOneDBWithoutDoubleClaims(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		const builder = "Linux x86-64 mozilla-inbound leak test build"
		var brids []int64
		for i := range 20 {
			brids = append(brids, fx.inject(t, fmt.Sprintf("task%02dxxxxxxxxxxxxxxxxx", i), builder, "integration/mozilla-inbound"))
		}
		c := fx.consume(t, "build.*.*.started")
		script := Fixed(Attempt{Result: SUCCESS, Duration: 300 * time.Millisecond})
		a := fx.startSim(t, Options{Masters: []string{"bm01", "bm02"}, MaxBuildsPerMaster: 3, Script: script, PollInterval: 100 * time.Millisecond})
		b := fx.startSim(t, Options{Masters: []string{"bm03"}, MaxBuildsPerMaster: 3, Script: script, PollInterval: 100 * time.Millisecond})

		waitFor(t, 60*time.Second, "all 20 requests complete", func() bool {
			var n int
			if err := fx.db.SQL().QueryRow(`SELECT COUNT(*) FROM buildrequests WHERE complete = 1`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 20
		})
		seen := map[int64]int{}
		for range 20 {
			m := c.next(t, 10*time.Second)
			for _, id := range m.Body.Payload.RequestIDs {
				seen[id]++
			}
		}
		c.quiet(t, time.Second)
		for _, brid := range brids {
			if seen[brid] != 1 {
				t.Errorf("brid %d: %d started events, want 1", brid, seen[brid])
			}
			if rows := fx.buildsOf(t, brid); len(rows) != 1 {
				t.Errorf("brid %d: %d builds rows, want 1", brid, len(rows))
			}
			if r := fx.request(t, brid); r.results.Int64 != SUCCESS {
				t.Errorf("brid %d results %v", brid, r.results)
			}
		}
		recs := append(a.Builds(), b.Builds()...)
		perMaster := map[string]int{}
		numbers := map[string]bool{}
		for _, r := range recs {
			perMaster[r.Master]++
			k := fmt.Sprintf("%s/%d", r.Master, r.Number)
			if numbers[k] {
				t.Errorf("master %s used build number %d twice", r.Master, r.Number)
			}
			numbers[k] = true
		}
		if len(recs) != 20 {
			t.Errorf("Builds() of both Sims: %d builds, want 20", len(recs))
		}
		if len(perMaster) < 2 {
			t.Errorf("builds per master = %v: the limit of 3 running builds should have spread the work", perMaster)
		}
		t.Logf("builds per master: %v", perMaster)
	})
}

// A master that comes back under the same name with a new incarnation takes
// over the requests its previous incarnation had claimed and never finished.
func TestRestartedMasterTakesOverItsClaims(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "build.*.*.started", "build.*.*.log_uploaded")
		brid := fx.inject(t, "Rs7oZx5mRbG7pQ0cXfYw1A", "Android 4.0 mozilla-central build", "mozilla-central")
		old := fx.startSim(t, Options{Masters: []string{"bm70"}, Script: Fixed(Attempt{Duration: Forever})})
		first := c.next(t, 20*time.Second)
		old.Close() // killed: the request stays claimed by the old incarnation
		before := fx.request(t, brid)
		if before.complete != 0 || before.claimedBy.String != old.MasterNames()[0] {
			t.Fatalf("after the kill: %+v, want claimed by %s and incomplete", before, old.MasterNames()[0])
		}

		// Another master must leave it alone (the claim is fresh)...
		fx.startSim(t, Options{Masters: []string{"bm71"}})
		// ...while the restarted bm70 takes it over.
		time.Sleep(time.Second)
		if r := fx.request(t, brid); r.claimedBy.String != before.claimedBy.String || r.incarnation != before.incarnation {
			t.Fatalf("another master took over a freshly claimed request: %+v", r)
		}
		fx.startSim(t, Options{Masters: []string{"bm70"}})
		second := c.next(t, 20*time.Second)
		if !strings.HasSuffix(second.Key, ".started") || second.Body.Payload.Build.Number <= first.Body.Payload.Build.Number {
			t.Fatalf("restart: got %s (number %d), want a started event with a number above %d",
				second.Key, second.Body.Payload.Build.Number, first.Body.Payload.Build.Number)
		}
		lu := c.next(t, 20*time.Second)
		if r := lu.Body.Payload.Build.Results; !strings.HasSuffix(lu.Key, ".log_uploaded") || r == nil || *r != SUCCESS {
			t.Fatalf("got %s results %v, want log_uploaded with 0", lu.Key, r)
		}
		after := fx.request(t, brid)
		if after.complete != 1 || after.incarnation == before.incarnation || after.claimedBy != before.claimedBy {
			t.Errorf("after the restart: %+v (before %+v)", after, before)
		}
		if rows := fx.buildsOf(t, brid); len(rows) != 2 || rows[0].finish.Valid || !rows[1].finish.Valid {
			t.Errorf("builds rows = %+v, want the abandoned one and a finished one", rows)
		}
	})
}

func TestMergedBuildServesSeveralRequests(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		const builder = "b2g_mozilla-central_emulator_dep"
		a := fx.inject(t, "Aaaaaaaaaaaaaaaaaaaaaa", builder, "mozilla-central")
		b := fx.inject(t, "Bbbbbbbbbbbbbbbbbbbbbb", builder, "mozilla-central")
		other := fx.inject(t, "Cccccccccccccccccccccc", builder, "try")
		c := fx.consume(t, "build.*.*.started", "build.*.*.log_uploaded")
		fx.startSim(t, Options{Script: Fixed(Attempt{Result: SUCCESS, Duration: 100 * time.Millisecond, Merge: true})})

		var msgs []message
		for range 4 {
			msgs = append(msgs, c.next(t, 20*time.Second))
		}
		var merged, single, mergedLU *message
		for i := range msgs {
			m := &msgs[i]
			switch {
			case strings.HasSuffix(m.Key, ".started") && len(m.Body.Payload.RequestIDs) == 2:
				merged = m
			case strings.HasSuffix(m.Key, ".started"):
				single = m
			default:
				if ids, _, _ := m.Body.prop("request_ids"); fmt.Sprint(ids) == fmt.Sprint([]any{float64(a), float64(b)}) {
					mergedLU = m
				}
			}
		}
		if merged == nil || !slices.Equal(merged.Body.Payload.RequestIDs, []int64{a, b}) {
			t.Fatalf("no started event with request_ids [%d %d]; got %v", a, b, keysAndIDs(msgs))
		}
		if single == nil || !slices.Equal(single.Body.Payload.RequestIDs, []int64{other}) {
			t.Fatalf("the request on another branch was not built alone: %v", keysAndIDs(msgs))
		}
		checkProp(t, merged.Body, "taskId", "Aaaaaaaaaaaaaaaaaaaaaa", "bbb")
		if mergedLU == nil {
			t.Fatalf("no log_uploaded with request_ids [%d %d]: %v", a, b, keysAndIDs(msgs))
		}
		times, _, _ := mergedLU.Body.prop("request_times")
		if tm, ok := times.(map[string]any); !ok || len(tm) != 2 {
			t.Errorf("request_times = %v, want both requests", times)
		}
		ra, rb := fx.buildsOf(t, a), fx.buildsOf(t, b)
		if len(ra) != 1 || len(rb) != 1 || ra[0].number != rb[0].number || ra[0].id == rb[0].id {
			t.Errorf("builds rows: a %+v b %+v, want one row each with the same number", ra, rb)
		}
		for _, brid := range []int64{a, b, other} {
			if r := fx.request(t, brid); r.complete != 1 || r.results.Int64 != SUCCESS {
				t.Errorf("brid %d: %+v", brid, r)
			}
		}
	})
}

func keysAndIDs(msgs []message) []string {
	var out []string
	for _, m := range msgs {
		ids, _, _ := m.Body.prop("request_ids")
		out = append(out, fmt.Sprintf("%s %v %v", m.Key, m.Body.Payload.RequestIDs, ids))
	}
	return out
}

func TestRetryRebuildsTheSameRequest(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		brid := fx.inject(t, "Rtrytrytrytrytrytrytry", "Ubuntu VM 12.04 x64 mozilla-central opt test mochitest-1", "mozilla-central")
		c := fx.consume(t, "build.*.*.started", "build.*.*.log_uploaded")
		// The script runs when a master considers the request, before the
		// claim: the second time, the row must be back in the pending pool.
		type state struct {
			claimedAt int64
			name, inc sql.NullString
			complete  int
		}
		seenAgain := make(chan state, 1)
		db := fx.db.SQL()
		script := func(r BuildRequestInfo) []Attempt {
			if r.Attempt == 1 {
				var s state
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := db.QueryRowContext(ctx, `SELECT claimed_at, claimed_by_name, claimed_by_incarnation, complete
FROM buildrequests WHERE id = ?`, r.ID).Scan(&s.claimedAt, &s.name, &s.inc, &s.complete); err == nil {
					select {
					case seenAgain <- s:
					default:
					}
				}
			}
			return []Attempt{{Result: RETRY, Duration: 50 * time.Millisecond}, {Result: SUCCESS, Duration: 50 * time.Millisecond}}
		}
		fx.startSim(t, Options{Script: script})

		s1 := c.next(t, 20*time.Second)
		l1 := c.next(t, 20*time.Second)
		s2 := c.next(t, 20*time.Second)
		l2 := c.next(t, 20*time.Second)
		for i, m := range []message{s1, l1, s2, l2} {
			kind := []string{".started", ".log_uploaded"}[i%2]
			if !strings.HasSuffix(m.Key, kind) {
				t.Fatalf("event %d is %s, want *%s", i, m.Key, kind)
			}
		}
		if r := l1.Body.Payload.Build.Results; r == nil || *r != RETRY {
			t.Errorf("first log_uploaded results = %v, want 5", r)
		}
		if r := l2.Body.Payload.Build.Results; r == nil || *r != SUCCESS {
			t.Errorf("second log_uploaded results = %v, want 0", r)
		}
		if !slices.Equal(s2.Body.Payload.RequestIDs, []int64{brid}) || s1.Body.Payload.Build.Number == s2.Body.Payload.Build.Number {
			t.Errorf("second build: request_ids %v number %d (first %d), want the same brid, a new number",
				s2.Body.Payload.RequestIDs, s2.Body.Payload.Build.Number, s1.Body.Payload.Build.Number)
		}
		select {
		case s := <-seenAgain:
			if s.claimedAt != 0 || s.name.Valid || s.inc.Valid || s.complete != 0 {
				t.Errorf("request after RETRY = %+v, want claimed_at 0, NULL claim, complete 0", s)
			}
		default:
			t.Error("the script never saw the request's second attempt")
		}
		rows := fx.buildsOf(t, brid)
		if len(rows) != 2 || rows[0].id == rows[1].id || !rows[0].finish.Valid || !rows[1].finish.Valid {
			t.Errorf("builds rows = %+v, want two finished rows", rows)
		}
		if r := fx.request(t, brid); r.complete != 1 || r.results.Int64 != SUCCESS {
			t.Errorf("request at the end: %+v", r)
		}
	})
}
