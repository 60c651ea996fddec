package bbsim

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The tests here lose the reply to one of a master's writes after the
// write has landed (testenv.DropReplyProxy), and check that the master acts
// on what the DB holds, not on the error.

// proxied opens the MariaDB fixture's database through a DropReplyProxy.
// interpolateParams puts every statement's text in one COM_QUERY, where
// the proxy looks for it.
func (fx *fixture) proxied(t *testing.T) (*sql.DB, *testenv.DropReplyProxy) {
	t.Helper()
	u, err := dburl.Parse(fx.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewDropReplyProxy(t, testenv.MariaDBAddr())
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/%s?timeout=10s&readTimeout=30s&interpolateParams=true",
		p.Addr(), u.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, p
}

// sqlHead is a statement's text up to its first placeholder, which is
// what it still reads like once its parameters are interpolated.
func sqlHead(q string) string {
	head, _, _ := strings.Cut(q, "?")
	return head
}

func waitLost(t *testing.T, lost <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(30 * time.Second):
		t.Fatalf("the reply to %s was never lost: the statement did not run", what)
	}
}

// wantBuiltOnce waits for brid to be complete and checks it was built
// exactly once, with result SUCCESS.
func (fx *fixture) wantBuiltOnce(t *testing.T, brid int64) {
	t.Helper()
	waitFor(t, 20*time.Second, "the request complete", func() bool { return fx.request(t, brid).complete == 1 })
	if r := fx.request(t, brid); r.results.Int64 != SUCCESS {
		t.Errorf("request = %+v, want results 0", r)
	}
	if rows := fx.buildsOf(t, brid); len(rows) != 1 || !rows[0].finish.Valid {
		t.Errorf("builds rows = %+v, want one, finished", rows)
	}
}

func newMariaDBFixture(t *testing.T) *fixture {
	t.Parallel()
	return newFixture(t, "mysql")
}

// The failure of issue 10: the claim landed, its reply did not. The master
// must read the request back and build it, not leave it claimed by itself
// for the hour of the stale-claim rule.
func TestClaimWhoseReplyIsLostIsBuilt(t *testing.T) {
	fx := newMariaDBFixture(t)
	db, p := fx.proxied(t)
	lost := p.Arm(sqlHead(claimRequestSQL))
	sim := fx.startSim(t, Options{DB: db})
	brid := fx.inject(t, "Lost1x5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "mozilla-central")
	waitLost(t, lost, "the claim")
	fx.wantBuiltOnce(t, brid)
	if recs := sim.Builds(); len(recs) != 1 {
		t.Errorf("Builds() = %+v, want one build", recs)
	}
}

// A lost reply to the builds rows' commit: the retry must find the rows the
// first try wrote, not add a second build that never finishes.
func TestBuildsRowsCommitWhoseReplyIsLostWritesOneBuild(t *testing.T) {
	fx := newMariaDBFixture(t)
	db, p := fx.proxied(t)
	lost := p.Arm("COMMIT") // the first transaction of a build is insertBuilds
	fx.startSim(t, Options{DB: db})
	brid := fx.inject(t, "Lost2x5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "mozilla-central")
	waitLost(t, lost, "the builds rows' commit")
	fx.wantBuiltOnce(t, brid)
}

// A RETRY's finish commits (the request goes back to the pool), its reply is
// lost, and while the master cannot reach the DB another master claims and
// builds the request. The first master's retry must not un-claim it again:
// that would start a third build beside the second.
func TestRetryFinishWhoseReplyIsLostKeepsTheNextClaim(t *testing.T) {
	fx := newMariaDBFixture(t)
	db, p := fx.proxied(t)
	script := Fixed(Attempt{Result: RETRY, Duration: 2 * time.Second}, Attempt{Result: SUCCESS, Duration: 3 * time.Second})
	a := fx.startSim(t, Options{DB: db, Masters: []string{"bm80"}, Script: script})
	brid := fx.inject(t, "Lost3x5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "mozilla-central")
	waitFor(t, 20*time.Second, "the first build started", func() bool { return len(fx.buildsOf(t, brid)) == 1 })
	lost := p.ArmOutage("COMMIT") // the next transaction is the RETRY's finish
	waitLost(t, lost, "the RETRY's finish")
	if r := fx.request(t, brid); r.claimedAt != 0 || r.complete != 0 {
		t.Fatalf("after the lost finish: %+v, want the request back in the pool", r)
	}

	b := fx.startSim(t, Options{Masters: []string{"bm81"}, Script: script})
	waitFor(t, 20*time.Second, "bm81 building the request", func() bool { return len(fx.buildsOf(t, brid)) == 2 })
	claimed := fx.request(t, brid)
	if claimed.claimedBy.String != b.MasterNames()[0] {
		t.Fatalf("request = %+v, want it claimed by %s", claimed, b.MasterNames()[0])
	}
	p.SetDown(false)
	waitFor(t, 20*time.Second, "bm80's build recorded as finished", func() bool {
		recs := a.Builds()
		return len(recs) == 1 && !recs[0].Finished.IsZero()
	})
	if r := fx.request(t, brid); r.complete == 0 && (r.claimedBy != claimed.claimedBy || r.claimedAt == 0) {
		t.Errorf("bm80's retried finish took bm81's claim away: %+v", r)
	}
	waitFor(t, 20*time.Second, "the request complete", func() bool { return fx.request(t, brid).complete == 1 })
	time.Sleep(time.Second) // polls that could still start a third build
	rows := fx.buildsOf(t, brid)
	if len(rows) != 2 || !rows[0].finish.Valid || !rows[1].finish.Valid {
		t.Errorf("builds rows = %+v, want two finished", rows)
	}
	if n := len(a.Builds()) + len(b.Builds()); n != 2 {
		t.Errorf("bm80 ran %+v, bm81 ran %+v: want one build each", a.Builds(), b.Builds())
	}
	if r := fx.request(t, brid); r.results.Int64 != SUCCESS {
		t.Errorf("request = %+v, want results 0", r)
	}
}

// A self-serve cancel whose commit reply is lost is retried by the agent;
// the job must report what happened (cancelled), not "not cancelled" from
// the retry that found the request already complete.
func TestCancelWhoseReplyIsLostReportsCancelled(t *testing.T) {
	fx := newMariaDBFixture(t)
	db, p := fx.proxied(t)
	sim := fx.startSim(t, Options{DB: db, Builders: []string{"unrelated"}, AgentDelay: -1})
	brid := fx.inject(t, "Lost4x5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "projects/alder")
	lost := p.Arm("COMMIT")
	base := sim.SelfServeURL()
	job := wantJob(t, "cancel", callSelfServe(t, http.MethodDelete,
		fmt.Sprintf("%s/alder/request/%d", base, brid), "buildbot-bridge", true))
	waitLost(t, lost, "the cancel")
	done := waitJob(t, base, job)
	data, _ := done["complete_data"].(map[string]any)
	if msg, _ := data["msg"].(string); msg != fmt.Sprintf("request %d cancelled", brid) {
		t.Errorf("job outcome %q, want the request reported cancelled", msg)
	}
	if r := fx.request(t, brid); r.complete != 1 || r.results.Int64 != FAILURE || r.claimedAt != 0 {
		t.Errorf("request = %+v, want cancelled", r)
	}
}

// A running build's claim that has gone stale (its refreshes failed for
// longer than the claim timeout) comes back in the master's own poll; the
// master must not start a second build of it.
func TestStaleClaimOfARunningBuildIsNotBuiltAgain(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		sim := fx.startSim(t, Options{Script: Fixed(Attempt{Duration: Forever})})
		brid := fx.inject(t, "Stale1x5mRbG7pQ0cXfYw1", "Linux mozilla-central build", "mozilla-central")
		waitFor(t, 20*time.Second, "the build started", func() bool { return len(sim.Builds()) == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := fx.db.SQL().ExecContext(ctx, `UPDATE buildrequests SET claimed_at = 1 WHERE id = ?`, brid); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // several polls
		if recs, rows := sim.Builds(), fx.buildsOf(t, brid); len(recs) != 1 || len(rows) != 1 {
			t.Errorf("Builds() = %+v, builds rows %+v: want the one build", recs, rows)
		}
	})
}

// Options.ClaimTimeout scales Buildbot's hour down: a killed master's
// request is taken over by another once its claim is that old.
func TestStaleClaimIsTakenOverAfterClaimTimeout(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		brid := fx.inject(t, "Stale2x5mRbG7pQ0cXfYw1", "Linux mozilla-central build", "mozilla-central")
		old := fx.startSim(t, Options{Masters: []string{"bm90"}, Script: Fixed(Attempt{Duration: Forever})})
		waitFor(t, 20*time.Second, "the build started", func() bool { return len(old.Builds()) == 1 })
		old.Close()
		killed := time.Now()
		other := fx.startSim(t, Options{Masters: []string{"bm91"}, ClaimTimeout: 3 * time.Second, ClaimRefreshInterval: time.Second})
		waitFor(t, 20*time.Second, "bm91 building the request", func() bool { return len(other.Builds()) == 1 })
		if d := time.Since(killed); d < 2*time.Second {
			t.Errorf("bm91 took over a claim %s old, before the 3 s claim timeout", d)
		}
		waitFor(t, 20*time.Second, "the request complete", func() bool { return fx.request(t, brid).complete == 1 })
		if r := fx.request(t, brid); r.claimedBy.String != other.MasterNames()[0] || r.results.Int64 != SUCCESS {
			t.Errorf("request = %+v, want completed by bm91", r)
		}
	})
}

func TestClaimTimeoutOptions(t *testing.T) {
	base := Options{DB: &sql.DB{}, Driver: "sqlite", Publisher: &pulse.Publisher{}}
	for _, tc := range []struct {
		timeout, refresh time.Duration
		ok               bool
	}{
		{0, 0, true},
		{150 * time.Second, 20 * time.Second, true},
		{500 * time.Millisecond, 100 * time.Millisecond, false},
		{time.Minute, time.Minute, false},
		{0, 2 * time.Hour, false},
	} {
		o := base
		o.ClaimTimeout, o.ClaimRefreshInterval = tc.timeout, tc.refresh
		err := o.applyDefaults()
		if (err == nil) != tc.ok {
			t.Errorf("ClaimTimeout %s, ClaimRefreshInterval %s: err %v, want ok=%v", tc.timeout, tc.refresh, err, tc.ok)
		}
		if err == nil && tc.timeout == 0 && o.ClaimTimeout != time.Hour {
			t.Errorf("default ClaimTimeout = %s, want 1h", o.ClaimTimeout)
		}
	}
}
