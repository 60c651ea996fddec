package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/taskcluster/slugid-go/slugid"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// identity names the demo's worker pool, scheduler and clients. Its
// scheduler is bbb-demo, as in the data folders of earlier runs, whose
// tasks carry it.
var identity = func() localdeploy.Identity {
	id := localdeploy.NewIdentity("demo")
	id.SchedulerID = "bbb-demo"
	return id
}()

// The demo's builders. A task for a builder not on the master
// (masterBuilders) is refused by the bridge as malformed-payload.
const (
	builderSuccess = "linux64"
	builderFailure = "win64"
	builderRetry   = "macosx64"
	builderLong    = "linux64-long"
	// builderIgnored matches the demo config's ignored_builders.
	builderIgnored = "ignored-nightly"
	// builderRestricted matches restricted_builders; the demo's task has
	// no builder scope, so its payload is refused.
	builderRestricted = "release-linux64"
)

// masterBuilders are the builders the simulated master has. Like a real
// master it leaves requests for any other builder alone, and the bridge
// refuses such tasks through its allowed-builders list.
var masterBuilders = []string{builderSuccess, builderFailure, builderRetry, builderLong, builderRestricted}

// demoKind is one of the demo tasks: what it shows and how it ends in
// Taskcluster, run by run ("state" or "state/reasonResolved").
type demoKind struct {
	kind    string
	builder string
	shows   string
	runs    []string
}

var demoKinds = []demoKind{
	{"success", builderSuccess, "SUCCESS after a long build, reclaimed while it runs", []string{"completed"}},
	{"failure", builderFailure, "FAILURE", []string{"failed"}},
	{"retry", builderRetry, "RETRY, then SUCCESS on the same BuildRequest", []string{"exception/worker-shutdown", "completed"}},
	{"cancel", builderLong, "a long build, cancelled by hand with the cancel signal", []string{"exception/canceled"}},
	{"ignored", builderIgnored, "an ignored builder: the bridge leaves the task alone", []string{"pending"}},
	{"malformed", builderRestricted, "a restricted builder without the scope: malformed-payload", []string{"exception/malformed-payload"}},
}

func kindOf(kind string) (demoKind, bool) {
	for _, k := range demoKinds {
		if k.kind == kind {
			return k, true
		}
	}
	return demoKind{}, false
}

// script is what the simulated Buildbot does with each builder's requests.
func script(o options) bbsim.Script {
	short := o.BuildDuration / 3
	return bbsim.ByBuilder(map[string][]bbsim.Attempt{
		builderSuccess: {{Result: bbsim.SUCCESS, Duration: o.BuildDuration}},
		builderFailure: {{Result: bbsim.FAILURE, Duration: short}},
		builderRetry:   {{Result: bbsim.RETRY, Duration: short}, {Result: bbsim.SUCCESS, Duration: short}},
		builderLong:    {{Result: bbsim.SUCCESS, Duration: bbsim.Forever}},
	}, bbsim.Attempt{Result: bbsim.SUCCESS, Duration: short})
}

// queueClient is the official Taskcluster client for the stand-in queue,
// with a backoff short enough for a local service; ctx aborts its calls.
func queueClient(ctx context.Context, rootURL string, c credentials) *tcqueue.Queue {
	q := localdeploy.QueueClient(rootURL, c.ClientID, c.AccessToken,
		localdeploy.Retry{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Elapsed: 15 * time.Second})
	q.Context = ctx
	q.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	return q
}

// createTask creates a task for builder on the bridge's worker pool, as a
// Taskcluster user (or the decision task of a push) would. extra are more
// build properties (real mode: what steers the master's build).
func createTask(q *tcqueue.Queue, builder string, extra map[string]any) (string, error) {
	taskID := slugid.Nice()
	rev := make([]byte, 20)
	if _, err := rand.Read(rev); err != nil {
		return "", err
	}
	props := map[string]any{"product": "firefox", "who": "demo@example.com"}
	for k, v := range extra {
		props[k] = v
	}
	err := identity.CreateTask(q, taskID, localdeploy.Task{
		Builder:    builder,
		Properties: props,
		Sourcestamp: map[string]any{
			"branch":     "integration/mozilla-inbound",
			"revision":   hex.EncodeToString(rev),
			"repository": "https://hg.mozilla.org/integration/mozilla-inbound",
		},
		Deadline:    24 * time.Hour,
		Expires:     7 * 24 * time.Hour,
		Retries:     5,
		Name:        "demo " + builder,
		Description: "a task of the Buildbot Bridge demo",
		Owner:       "demo@example.com",
		Source:      "https://github.com/bbbridge/buildbot-bridge",
	})
	if err != nil {
		return "", err
	}
	return taskID, nil
}

// runLabel renders a run as demoKind.runs lists it: its state, and the
// reason it was resolved with when that says more (exception/canceled).
func runLabel(state, reasonResolved string) string {
	if reasonResolved == "" || reasonResolved == state {
		return state
	}
	return state + "/" + reasonResolved
}

func runsString(runs []string) string {
	if len(runs) == 0 {
		return "no run"
	}
	return strings.Join(runs, ", ")
}
