package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 2: each Buildbot result resolves the TC run as DESIGN §4's table
// says, after both artifacts are attached: SUCCESS → reportCompleted,
// WARNINGS and FAILURE → reportFailed, EXCEPTION → reportException
// malformed-payload (as the original did). None of them makes a new run or
// a second BuildRequest. The SUCCESS task's build outlasts the claim
// timeout, so its history (recorded for workflows/replay_test.go) holds
// reclaims too.
func TestBuildbotResultResolvesTheRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		result                  int
		builder                 string
		duration                time.Duration
		state, reason, resolver string
		history                 string
	}{
		{bbsim.SUCCESS, "linux64 mozilla-release build", 6 * time.Second, "completed", "completed", "reportCompleted", "success.json"},
		{bbsim.WARNINGS, "linux64 mozilla-release test mochitest-1", 500 * time.Millisecond, "failed", "failed", "reportFailed", ""},
		{bbsim.FAILURE, "linux64 mozilla-release test xpcshell", 500 * time.Millisecond, "failed", "failed", "reportFailed", ""},
		{bbsim.EXCEPTION, "linux64 mozilla-release l10n", 500 * time.Millisecond, "exception", "malformed-payload", "reportException", ""},
	}
	script := map[string][]bbsim.Attempt{}
	for _, c := range cases {
		script[c.builder] = []bbsim.Attempt{{Result: c.result, Duration: c.duration}}
	}
	e := newEnv(t, envOptions{
		// Reclaims about every 2.7 s, so the 6 s SUCCESS build needs two.
		ClaimTimeout: 4 * time.Second,
		Script:       bbsim.ByBuilder(script),
	})
	tasks := make([]string, len(cases))
	for i, c := range cases {
		tasks[i] = e.createTask(taskSpec{
			Builder:  c.builder,
			Branch:   "https://hg.mozilla.org/releases/mozilla-release",
			Revision: "fedcba654321",
		})
	}

	for i, c := range cases {
		taskID := tasks[i]
		name := bbsim.ResultName(c.result)
		st := e.waitRunState(taskID, 0, c.state, c.reason, 40*time.Second)
		e.waitWorkflowClosed(taskID, 30*time.Second)
		if len(st.Runs) != 1 {
			t.Errorf("%s: task has %d runs, want 1 (no retry for this result): %+v", name, len(st.Runs), st.Runs)
		}

		// TC heard exactly one resolution, the one of the table, and the
		// artifacts came first.
		for _, m := range []string{"reportCompleted", "reportFailed", "reportException"} {
			want := 0
			if m == c.resolver {
				want = 1
			}
			if n := len(e.allCalls(taskID, m)); n != want {
				t.Errorf("%s: %s called %d times, want %d", name, m, n, want)
			}
		}
		if c.resolver == "reportException" {
			if calls := e.allCalls(taskID, "reportException"); len(calls) == 1 && exceptionReason(calls[0]) != "malformed-payload" {
				t.Errorf("%s: reportException reason %q, want malformed-payload", name, exceptionReason(calls[0]))
			}
		}
		if claims := e.calls(taskID, "claimTask"); len(claims) != 1 {
			t.Errorf("%s: %d successful claims, want 1", name, len(claims))
		}
		resolved := e.calls(taskID, c.resolver)
		arts := e.calls(taskID, "createArtifact")
		if len(resolved) == 1 {
			for _, a := range arts {
				if a.At.After(resolved[0].At) {
					t.Errorf("%s: an artifact was created after %s: %s", name, c.resolver, a.Body)
				}
			}
		}

		// Buildbot's side: one request, built once, complete with the result.
		brids := e.buildRequests(taskID)
		if len(brids) != 1 {
			t.Fatalf("%s: BuildRequests %v, want exactly one", name, brids)
		}
		if r := g1RequestRow(e, brids[0]); r.Complete != 1 || r.Results != c.result || r.Builds != 1 {
			t.Errorf("%s: BuildRequest row %+v, want complete 1, results %d, one build", name, r, c.result)
		}
		builds := g1BuildsOf(e.sim, brids[0])
		if len(builds) != 1 {
			t.Fatalf("%s: builds %+v, want one", name, builds)
		}
		g1CheckArtifacts(e, taskID, 0, taskID, builds[0].LogURL)
		// What TC's resolution cannot say (WARNINGS and FAILURE both fail
		// the run) is in public/build-result.json.
		want := wantBuildResult{result: strings.ToUpper(name), call: c.resolver, source: "finished event", brid: brids[0],
			treeherder: map[int]string{bbsim.SUCCESS: "success", bbsim.WARNINGS: "testfailed", bbsim.FAILURE: "busted",
				bbsim.EXCEPTION: "exception"}[c.result]}
		if c.resolver == "reportException" {
			want.reason = "malformed-payload"
		}
		doc := expectBuildResult(e, taskID, 0, want)
		if doc.BuildNumber != nil && *doc.BuildNumber != builds[0].Number {
			t.Errorf("%s: build-result.json names build %d, want %d", name, *doc.BuildNumber, builds[0].Number)
		}
		// The build's own times (Pulse has them to the second).
		if doc.StartedAt != nil && doc.FinishedAt != nil && (!doc.StartedAt.Equal(builds[0].Started.Truncate(time.Second)) ||
			!doc.FinishedAt.Equal(builds[0].Finished.Truncate(time.Second))) {
			t.Errorf("%s: build-result.json times %s – %s, want the build's %s – %s", name, doc.StartedAt, doc.FinishedAt,
				builds[0].Started, builds[0].Finished)
		}

		if c.history != "" {
			if n := len(e.calls(taskID, "reclaimTask")); n < 1 {
				t.Errorf("%s: %d reclaims during a 6 s build with a 4 s claim timeout, want at least 1", name, n)
			}
			g1ReplayAndRecord(e, g1History(e, taskID, ""), c.history)
		}
	}
}
