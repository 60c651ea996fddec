package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Scenario 1: a task runs on Buildbot and completes in Taskcluster, with
// the BuildRequest Buildbot expects, a claim by the configured worker,
// reclaims while the build outlasts the claim timeout, and both artifacts.
func TestSuccessfulTaskLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{
		// A 4 s claim timeout makes the bridge reclaim about every 2.7 s
		// (claim period / 3 ahead of takenUntil, DESIGN §5); the 9 s build
		// therefore needs at least two reclaims.
		ClaimTimeout: 4 * time.Second,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 9 * time.Second}),
	})
	taskID := e.createTask(taskSpec{
		Builder:    "linux64 mozilla-beta build",
		Branch:     "https://hg.mozilla.org/releases/mozilla-beta",
		Revision:   "abcdef123456",
		Priority:   "high",
		Properties: map[string]any{"product": "firefox", "version": "99.0b1"},
	})

	st := e.waitRunState(taskID, 0, "completed", "completed", 60*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)

	// The Web UI shows what the task is without opening the history.
	desc, err := e.temporal.DescribeWorkflowExecution(e.ctx, "task-"+taskID, "")
	if err != nil {
		t.Fatal(err)
	}
	memo := map[string]string{}
	for k, p := range desc.GetWorkflowExecutionInfo().GetMemo().GetFields() {
		var v string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			t.Fatalf("memo %s: %v", k, err)
		}
		memo[k] = v
	}
	if memo["taskName"] != "e2e linux64 mozilla-beta build" || memo["builderName"] != "linux64 mozilla-beta build" ||
		memo["branch"] != "releases/mozilla-beta" || memo["revision"] != "abcdef123456" {
		t.Errorf("workflow memo = %v, want the task's name, builder, branch and revision", memo)
	}

	// The scheduler DB holds exactly one BuildRequest, as Buildbot reads it.
	brids := e.buildRequests(taskID)
	if len(brids) != 1 {
		t.Fatalf("BuildRequests for the task: %v, want exactly one", brids)
	}
	var (
		builder, branch, revision, reason string
		priority, complete, results       int
	)
	err = e.db.SQL().QueryRowContext(e.ctx, `
		SELECT br.buildername, br.priority, br.complete, br.results, bs.reason, ss.branch, ss.revision
		FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		JOIN sourcestamps ss ON ss.id = bs.sourcestampid WHERE br.id = ?`, brids[0]).
		Scan(&builder, &priority, &complete, &results, &reason, &branch, &revision)
	if err != nil {
		t.Fatal(err)
	}
	if builder != "linux64 mozilla-beta build" || priority != 1 || branch != "releases/mozilla-beta" ||
		revision != "abcdef123456" || reason != "Created by BBB for task "+taskID || complete != 1 || results != 0 {
		t.Errorf("BuildRequest row: builder %q priority %d branch %q revision %q reason %q complete %d results %d",
			builder, priority, branch, revision, reason, complete, results)
	}
	props := map[string]string{}
	rows, err := e.db.SQL().QueryContext(e.ctx, `SELECT bp.property_name, bp.property_value
		FROM buildset_properties bp JOIN buildrequests br ON br.buildsetid = bp.buildsetid WHERE br.id = ?`, brids[0])
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		props[n] = v
	}
	rows.Close()
	for name, want := range map[string]string{"taskId": taskID, "product": "firefox", "version": "99.0b1"} {
		var pair []any
		if err := json.Unmarshal([]byte(props[name]), &pair); err != nil || len(pair) != 2 || pair[0] != want || pair[1] != "bbb" {
			t.Errorf("property %s = %s, want [%q, \"bbb\"]", name, props[name], want)
		}
	}

	// Claimed once by the configured worker, reclaimed at least twice, and
	// never allowed to expire.
	claims := e.calls(taskID, "claimTask")
	if len(claims) < 1 {
		t.Fatalf("no successful claimTask")
	}
	var claimReq struct{ WorkerGroup, WorkerID string }
	_ = json.Unmarshal(claims[0].Body, &claimReq)
	if claimReq.WorkerGroup != workerGroup || claimReq.WorkerID != workerID {
		t.Errorf("claimed as %s/%s, want %s/%s", claimReq.WorkerGroup, claimReq.WorkerID, workerGroup, workerID)
	}
	if n := len(e.calls(taskID, "reclaimTask")); n < 2 {
		t.Errorf("%d reclaims during a 9 s build with a 4 s claim timeout, want at least 2", n)
	}
	if len(st.Runs) != 1 {
		t.Errorf("task has %d runs, want 1 (a claim expired?): %+v", len(st.Runs), st.Runs)
	}
	if n := len(e.calls(taskID, "reportCompleted")); n != 1 {
		t.Errorf("reportCompleted called %d times, want 1", n)
	}

	// Both artifacts, as the original attached them.
	arts := e.queue.Artifacts(taskID, 0)
	var props0, logRef bool
	for _, a := range arts {
		switch a.Name {
		case "public/properties.json":
			props0 = true
			var got map[string][]any
			if err := json.Unmarshal(a.Body, &got); err != nil {
				t.Errorf("properties.json is not JSON {name: [value, source]}: %v: %s", err, a.Body)
			} else if v := got["taskId"]; len(v) != 2 || v[0] != taskID {
				t.Errorf("properties.json taskId = %v", v)
			}
			if a.StorageType != "s3" || !strings.HasPrefix(a.ContentType, "application/json") {
				t.Errorf("properties.json stored as %s %s", a.StorageType, a.ContentType)
			}
		case "public/logs/live_backing.log.gz":
			logRef = true
			if a.StorageType != "reference" || a.ContentType != "application/gzip" || a.URL == "" {
				t.Errorf("log artifact: %s %s %q", a.StorageType, a.ContentType, a.URL)
			}
		}
	}
	if !props0 || !logRef {
		t.Errorf("artifacts: %+v, want public/properties.json and public/logs/live_backing.log.gz", arts)
	}
	expectBuildResult(e, taskID, 0, wantBuildResult{result: "SUCCESS", treeherder: "success", call: "reportCompleted",
		source: "finished event", brid: brids[0]})
}
