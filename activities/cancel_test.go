package activities_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

const builtBuilder = "linux64-build"

func TestCancelBuildRequestThroughSelfServe(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{buildbot: []string{builtBuilder}})
	// A builder no master serves: the request stays pending.
	brid := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", "win32-build", "releases/mozilla-beta")

	var res activities.CancelResult
	b.must(t, &res, b.acts.CancelBuildRequest, brid)
	if res.Requested != 1 {
		t.Errorf("Requested = %d, want 1", res.Requested)
	}
	calls := b.sim.SelfServeCalls()
	want := bbsim.SelfServeCall{Method: http.MethodDelete, Path: "/buildapi/self-serve/mozilla-beta/request/" + strconv.FormatInt(brid, 10),
		RemoteUser: "buildbot-bridge", Status: http.StatusAccepted}
	if len(calls) != 1 || calls[0].Method != want.Method || calls[0].Path != want.Path || calls[0].RemoteUser != want.RemoteUser || calls[0].Status != want.Status {
		t.Fatalf("self-serve calls = %+v, want %+v", calls, want)
	}
	// BuildAPI's agent completes it unclaimed, which is what the sweep finds.
	eventually(t, "the request to be cancelled", func() bool {
		var st activities.BuildRequestState
		return b.run(t, &st, b.acts.ReadBuildRequest, brid) == nil && st.Complete && st.ClaimedAt == 0
	})
}

func TestCancelBuildRequestNotFoundIsIgnored(t *testing.T) {
	t.Parallel()
	// Self-serve reading a database that does not have the request yet, as
	// BuildAPI's did right after scheduling (bug 1323013).
	lagging := startBuildbot(t, openSchedulerDB(t, testenv.SQLiteURL(t)), []string{builtBuilder})
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.SelfServe = selfserve.New(lagging.SelfServeURL(), nil)
	}})
	brid := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", "win32-build", "projects/alder")
	var res activities.CancelResult
	b.must(t, &res, b.acts.CancelBuildRequest, brid)
	if res.Requested != 0 {
		t.Errorf("Requested = %d for a 404, want 0", res.Requested)
	}
	calls := lagging.SelfServeCalls()
	if len(calls) != 1 || calls[0].Status != http.StatusNotFound || calls[0].Path != "/buildapi/self-serve/alder/request/"+strconv.FormatInt(brid, 10) {
		t.Errorf("self-serve calls = %+v, want one DELETE on alder answered 404", calls)
	}
}

func TestCancelBuildsStopsRunningBuilds(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{buildbot: []string{builtBuilder}})
	brid := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", builtBuilder, "https://hg.mozilla.org/mozilla-central")
	var build bbsim.BuildRecord
	eventually(t, "the build to start", func() bool {
		for _, r := range b.sim.Builds() {
			if len(r.BRIDs) > 0 && r.BRIDs[0] == brid {
				build = r
				return true
			}
		}
		return false
	})

	var res activities.CancelResult
	b.must(t, &res, b.acts.CancelBuilds, brid)
	if res.Requested != 1 {
		t.Fatalf("Requested = %d, want 1", res.Requested)
	}
	eventually(t, "the build to finish CANCELLED", func() bool {
		for _, r := range b.sim.Builds() {
			if r.ID == build.ID {
				return r.Result == bbsim.CANCELLED
			}
		}
		return false
	})
	calls := b.sim.SelfServeCalls()
	if p := calls[len(calls)-1].Path; p != "/buildapi/self-serve/mozilla-central/build/"+strconv.FormatInt(build.ID, 10) {
		t.Errorf("self-serve path %s, want the build's builds.id on mozilla-central", p)
	}

	// Nothing left running: nothing to cancel.
	eventually(t, "the builds row to finish", func() bool {
		var st activities.BuildRequestState
		return b.run(t, &st, b.acts.ReadBuildRequest, brid) == nil && st.RunningBuilds == 0
	})
	n := len(b.sim.SelfServeCalls())
	b.must(t, &res, b.acts.CancelBuilds, brid)
	if res.Requested != 0 || len(b.sim.SelfServeCalls()) != n {
		t.Errorf("CancelBuilds with no running build sent %d cancels", res.Requested)
	}
}

func TestSelfServeOutageIsRetryable(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{buildbot: []string{builtBuilder}})
	brid := injectDirect(t, b.db, "fN1gQ8ZPRZOaXM0ypZq1Pw", "win32-build", "mozilla-central")
	b.sim.SetSelfServeDown(true)
	var res activities.CancelResult
	wantRetryable(t, b.run(t, &res, b.acts.CancelBuildRequest, brid))
	b.sim.SetSelfServeDown(false)
	b.must(t, &res, b.acts.CancelBuildRequest, brid)
	if res.Requested != 1 {
		t.Errorf("after the outage Requested = %d, want 1", res.Requested)
	}
}

func TestCancelUnknownBuildRequestIsFinal(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{buildbot: []string{builtBuilder}})
	var res activities.CancelResult
	wantFinal(t, b.run(t, &res, b.acts.CancelBuildRequest, int64(424242)), activities.ErrBuildRequestNotFound)
}
