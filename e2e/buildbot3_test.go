package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// Scenarios against a real Buildbot 3 master and worker (Debian's 3.7),
// reached through the REST API and the master's pushes, with the bridge
// wired exactly as in production. Builds are steered by their properties
// (internal/testenv/buildbot3): sleep seconds, then exit with exit.

const (
	bb3Builder = "linux64-bb3"
	bb3Other   = "win64-bb3" // on the master but not in the bridge's scheduler
)

func bb3Env(t *testing.T, o buildbot3.Options) *env {
	if o.Builders == nil {
		o.Builders = []string{bb3Builder}
	}
	return newEnv(t, envOptions{Buildbot3: &o})
}

// bb3Task creates a task for builder with the given extra properties.
func (e *env) bb3Task(builder string, props map[string]any) string {
	p := map[string]any{"product": "firefox"}
	for k, v := range props {
		p[k] = v
	}
	return e.createTask(taskSpec{Builder: builder, Branch: "https://hg.mozilla.org/mozilla-central",
		Revision: "4e3a9c2f1d7b", Properties: p})
}

// bb3OneRequest checks the master has exactly one request for the task and
// returns it.
func (e *env) bb3OneRequest(builder, taskID string) int64 {
	e.t.Helper()
	reqs := e.masterRequests(builder, taskID)
	if len(reqs) != 1 {
		e.t.Fatalf("task %s has requests %s on the master, want exactly one", taskID, describeRequests(reqs))
	}
	return reqs[0].ID
}

// The master's results for a task: success, failure, and a builder the
// bridge cannot build on. One master serves all three.
func TestBuildbot3Results(t *testing.T) {
	t.Parallel()
	e := bb3Env(t, buildbot3.Options{Builders: []string{bb3Builder, bb3Other}, SchedulerBuilders: []string{bb3Builder}})

	ok := e.bb3Task(bb3Builder, map[string]any{"sleep": 2, "list": []any{1, "two"}, "nested": map[string]any{"a": 1}})
	failed := e.bb3Task(bb3Builder, map[string]any{"exit": 1})
	unknown := e.bb3Task("no-such-builder", nil)
	notBridged := e.bb3Task(bb3Other, nil)

	t.Run("success", func(t *testing.T) {
		e.waitRunState(ok, 0, "completed", "completed", 90*time.Second)
		e.waitWorkflowClosed(ok, 30*time.Second)
		brid := e.bb3OneRequest(bb3Builder, ok)
		builds := e.masterBuilds(brid)
		if len(builds) != 1 || builds[0].Results == nil || *builds[0].Results != 0 {
			t.Fatalf("builds of request %d: %+v, want one SUCCESS", brid, builds)
		}
		// The build really ran with the task's id: its first step printed
		// the taskId property.
		if log := e.stepLog(builds[0].ID, "taskid"); !strings.Contains(log, "taskId="+ok) {
			t.Errorf("step log does not show taskId=%s:\n%s", ok, log)
		}
		props, err := e.bbAPI.BuildProperties(e.ctx, builds[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if v := props["taskId"]; v[0] != ok {
			t.Errorf("build property taskId = %v", v)
		}
		if got, _ := json.Marshal(props["list"][0]); string(got) != `[1,"two"]` {
			t.Errorf("build property list = %s, want [1,\"two\"]", got)
		}
		if n := len(e.calls(ok, "claimTask")); n != 1 {
			t.Errorf("%d claims, want 1", n)
		}
		if n := len(e.calls(ok, "reportCompleted")); n != 1 {
			t.Errorf("%d reportCompleted, want 1", n)
		}
		var propsArt, page, logs bool
		for _, a := range e.queue.Artifacts(ok, 0) {
			switch {
			case a.Name == "public/properties.json":
				var got map[string][]any
				propsArt = json.Unmarshal(a.Body, &got) == nil && len(got["taskId"]) == 2 && got["taskId"][0] == ok
			case a.Name == "public/buildbot/build.html":
				page = a.StorageType == "reference" && strings.HasPrefix(a.URL, e.master.APIURL())
			case strings.HasPrefix(a.Name, "public/logs/") && strings.HasSuffix(a.Name, ".txt"):
				logs = a.StorageType == "reference" && strings.Contains(a.URL, "/raw")
			}
		}
		if !propsArt || !page || !logs {
			t.Errorf("artifacts %+v: want public/properties.json with the taskId, the build page and step logs", e.queue.Artifacts(ok, 0))
		}
		doc := expectBuildResult(e, ok, 0, wantBuildResult{result: "SUCCESS", treeherder: "success", call: "reportCompleted",
			source: "finished event", brid: brid})
		if doc.BuildNumber != nil && *doc.BuildNumber != int(builds[0].Number) {
			t.Errorf("build-result.json names build %d, want %d", *doc.BuildNumber, builds[0].Number)
		}
	})
	t.Run("failure", func(t *testing.T) {
		e.waitRunState(failed, 0, "failed", "failed", 90*time.Second)
		e.waitWorkflowClosed(failed, 30*time.Second)
		brid := e.bb3OneRequest(bb3Builder, failed)
		expectBuildResult(e, failed, 0, wantBuildResult{result: "FAILURE", treeherder: "busted", call: "reportFailed",
			source: "finished event", brid: brid})
	})
	t.Run("unknown builder", func(t *testing.T) {
		g3ExpectMalformed(e, unknown, "builder unknown to the master")
		lcWaitStateEvent(e, unknown, "no-such-builder")
	})
	t.Run("builder not in the bridge scheduler", func(t *testing.T) {
		g3ExpectMalformed(e, notBridged, "builder outside the force scheduler")
		lcWaitStateEvent(e, notBridged, bb3Other)
		if reqs := e.masterRequests(bb3Other, notBridged); len(reqs) != 0 {
			t.Errorf("requests %s made on a builder the bridge may not use", describeRequests(reqs))
		}
	})
}

// Cancels, both ways: TC cancels a running build and a pending request;
// someone cancels a pending request in Buildbot.
func TestBuildbot3Cancel(t *testing.T) {
	t.Parallel()
	e := bb3Env(t, buildbot3.Options{})

	// A long build first: it holds the builder's one worker slot, so the
	// next two requests stay pending.
	running := e.bb3Task(bb3Builder, map[string]any{"sleep": 120})
	build := e.waitBuildRunning(bb3Builder, running, 60*time.Second)
	e.waitRunState(running, 0, "running", "", 30*time.Second)
	tcPending := e.bb3Task(bb3Builder, nil)
	bbPending := e.bb3Task(bb3Builder, nil)
	var tcBrid, bbBrid int64
	e.waitFor(30*time.Second, "both pending requests on the master", func() bool {
		a, b := e.masterRequests(bb3Builder, tcPending), e.masterRequests(bb3Builder, bbPending)
		if len(a) == 1 && len(b) == 1 {
			tcBrid, bbBrid = a[0].ID, b[0].ID
			return true
		}
		return false
	})

	t.Run("TC cancels a pending request", func(t *testing.T) {
		if _, err := e.tc.CancelTask(tcPending); err != nil {
			t.Fatal(err)
		}
		e.waitWorkflowClosed(tcPending, 30*time.Second)
		br, err := e.bbAPI.BuildRequest(e.ctx, tcBrid)
		if err != nil {
			t.Fatal(err)
		}
		if !br.Complete || br.Results != 6 || len(e.masterBuilds(tcBrid)) != 0 {
			t.Errorf("request %d: complete=%v results=%d, want cancelled (6) without a build", tcBrid, br.Complete, br.Results)
		}
	})
	t.Run("Buildbot cancels a pending request", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		if err := e.bbAPI.CancelRequest(ctx, bbBrid, "a sheriff cancelled it"); err != nil {
			t.Fatal(err)
		}
		e.waitRunState(bbPending, 0, "exception", "canceled", 30*time.Second)
		e.waitWorkflowClosed(bbPending, 30*time.Second)
		if n := len(e.calls(bbPending, "claimTask")); n != 0 {
			t.Errorf("a task cancelled before its build started was claimed %d times", n)
		}
	})
	t.Run("TC cancels a running build", func(t *testing.T) {
		if _, err := e.tc.CancelTask(running); err != nil {
			t.Fatal(err)
		}
		e.waitFor(30*time.Second, "the build stopped on the master", func() bool {
			for _, b := range e.masterBuilds(build.BuildRequestID) {
				if b.ID == build.ID {
					return b.Complete && b.Results != nil && *b.Results == 6
				}
			}
			return false
		})
		e.waitWorkflowClosed(running, 30*time.Second)
		st := e.status(running)
		if r := st.Runs[0]; r.State != "exception" || r.ReasonResolved != "canceled" || len(st.Runs) != 1 {
			t.Errorf("TC runs %+v, want run 0 exception/canceled only", st.Runs)
		}
		expectBuildResult(e, running, 0, wantBuildResult{result: "CANCELLED", treeherder: "usercancel", call: "none",
			source: "finished event", brid: build.BuildRequestID})
	})
}

// A worker killed mid-build makes Buildbot RETRY the same request: the run
// ends worker-shutdown and the next run is carried by the same request.
func TestBuildbot3WorkerLost(t *testing.T) {
	t.Parallel()
	e := bb3Env(t, buildbot3.Options{})
	taskID := e.bb3Task(bb3Builder, map[string]any{"sleep": 8})
	e.waitBuildRunning(bb3Builder, taskID, 60*time.Second)
	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	e.master.StopWorker(t)
	e.waitRunState(taskID, 0, "exception", "worker-shutdown", 60*time.Second)
	e.master.StartWorker(t)
	e.waitRunState(taskID, 1, "completed", "completed", 90*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	brid := e.bb3OneRequest(bb3Builder, taskID)
	builds := e.masterBuilds(brid)
	if len(builds) != 2 || builds[0].Results == nil || *builds[0].Results != 5 {
		t.Errorf("builds of request %d: %+v, want a RETRY then a SUCCESS", brid, builds)
	}
	expectBuildResult(e, taskID, 0, wantBuildResult{result: "RETRY", treeherder: "retry", call: "reportException",
		reason: "worker-shutdown", source: "finished event", brid: brid})
	expectBuildResult(e, taskID, 1, wantBuildResult{result: "SUCCESS", treeherder: "success", call: "reportCompleted",
		source: "finished event", brid: brid})
}

// A master restart cancels the builds it runs (not a RETRY): the task is
// neither lost nor cancelled, it runs again on a new request.
func TestBuildbot3MasterRestart(t *testing.T) {
	t.Parallel()
	e := bb3Env(t, buildbot3.Options{})
	taskID := e.bb3Task(bb3Builder, map[string]any{"sleep": 10})
	e.waitBuildRunning(bb3Builder, taskID, 60*time.Second)
	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	e.master.Restart(t)
	e.waitRunState(taskID, 0, "exception", "worker-shutdown", 60*time.Second)
	e.waitRunState(taskID, 1, "completed", "completed", 120*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	if reqs := e.masterRequests(bb3Builder, taskID); len(reqs) != 2 {
		t.Errorf("requests %s, want the interrupted one and one for run 1", describeRequests(reqs))
	}
	if n := len(e.calls(taskID, "cancelTask")); n != 0 {
		t.Errorf("the task was cancelled %d times", n)
	}
	// The shutdown's push may or may not leave the master: the document
	// comes from it or from the request, and says why the task runs again.
	doc := expectBuildResult(e, taskID, 0, wantBuildResult{result: "CANCELLED", treeherder: "retry", call: "reportException",
		reason: "worker-shutdown"})
	if doc.Interrupted == nil || !strings.Contains(*doc.Interrupted, "shut down") {
		t.Errorf("build-result.json interrupted = %v, want the master shutdown", doc.Interrupted)
	}
}

// Pushes are lost for good while the starter is down; the task still ends
// from what the REST API says, within the reflector interval plus the
// finished grace, not a claim period.
func TestBuildbot3LostPushes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Buildbot3: &buildbot3.Options{Builders: []string{bb3Builder}}, NoStarters: true})
	starterProc := e.startStarter()
	e.waitConsumers(1)
	taskID := e.bb3Task(bb3Builder, map[string]any{"sleep": 6})
	build := e.waitBuildRunning(bb3Builder, taskID, 60*time.Second)
	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	starterProc.stop(t)
	var ended time.Time
	e.waitFor(60*time.Second, "the build finished on the master", func() bool {
		for _, b := range e.masterBuilds(build.BuildRequestID) {
			if b.ID == build.ID && b.Complete {
				ended = time.Now()
				return true
			}
		}
		return false
	})
	e.waitRunState(taskID, 0, "completed", "completed", 30*time.Second)
	if took := time.Since(ended); took > 15*time.Second {
		t.Errorf("resolved %s after the build ended, want within reflector.interval + finished_grace_seconds (6 s) plus slack", took)
	}
	e.waitWorkflowClosed(taskID, 30*time.Second)
	expectBuildResult(e, taskID, 0, wantBuildResult{result: "SUCCESS", treeherder: "success", call: "reportCompleted",
		source: "request row", brid: build.BuildRequestID})
}

// A master that requires a login for control calls: the bridge logs in
// with buildbot.user/password and the task runs.
func TestBuildbot3MasterWithAuth(t *testing.T) {
	t.Parallel()
	e := bb3Env(t, buildbot3.Options{Auth: &buildbot3.Auth{User: "bridge", Password: "bb3-login-secret"}})
	taskID := e.bb3Task(bb3Builder, nil)
	e.waitRunState(taskID, 0, "completed", "completed", 90*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	e.bb3OneRequest(bb3Builder, taskID)
}

// Two starters consume Taskcluster's queues and task-pending arrives three
// times: still one request on the master, one claim, one resolution.
func TestBuildbot3TaskPendingDuplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Buildbot3: &buildbot3.Options{Builders: []string{bb3Builder}}, Starters: 2})
	pending := g1TapTaskPending(e)
	taskID := e.bb3Task(bb3Builder, map[string]any{"sleep": 3})
	m := g1WaitPending(e, pending, taskID, 0)
	g1Publish(e, m.Exchange, m.RoutingKey, m.Body, 2)
	st := e.waitRunState(taskID, 0, "completed", "completed", 90*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	e.bb3OneRequest(bb3Builder, taskID)
	if n := len(e.allCalls(taskID, "claimTask")); n != 1 {
		t.Errorf("claimTask called %d times, want once", n)
	}
	if n := len(e.allCalls(taskID, "reportCompleted")); n != 1 {
		t.Errorf("reportCompleted called %d times, want once", n)
	}
	if len(st.Runs) != 1 {
		t.Errorf("task has %d runs, want 1: %+v", len(st.Runs), st.Runs)
	}
}
