package buildbotrest

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

var record = flag.Bool("record", false, "write the real master's pushes to testdata/push/")

// recordPush keeps a real body as a decoder test case when -record is set.
func recordPush(t *testing.T, name string, body []byte) {
	t.Helper()
	if !*record {
		return
	}
	if err := os.WriteFile(filepath.Join("testdata", "push", name+".json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMaster runs the client against one real master without auth,
// whose reporter pushes to the test, through a request's whole life:
// success, failure, pending, cancelled, stopped, retried.
func TestOpenMaster(t *testing.T) {
	sink := newPushSink(t, "buildbot", "push-secret")
	m := buildbot3.Start(t, buildbot3.Options{
		Builders:          []string{"linux", "win", "unbridged"},
		SchedulerBuilders: []string{"linux", "win"},
		PushURL:           sink.url(),
		PushPassword:      "push-secret",
	})
	c := newClient(t, Config{APIURL: m.APIURL() + "api/v2/"})
	testStart := time.Now().Unix()

	builders, err := c.Builders(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, b := range builders {
		ids[b.Name] = b.ID
	}
	if len(ids) != 3 || ids["linux"] == 0 || ids["win"] == 0 || ids["unbridged"] == 0 {
		t.Fatalf("Builders() = %+v", builders)
	}

	t.Run("Finished", func(t *testing.T) {
		t.Run("Success", func(t *testing.T) {
			t.Parallel()
			testSuccess(t, c, sink, ids["linux"])
		})
		t.Run("Failure", func(t *testing.T) {
			t.Parallel()
			brid := force(t, c, "win", prop("taskId", "T-failure"), prop("sleep", 0), prop("exit", 1))
			if br := waitComplete(t, c, brid); br.Results != Failure {
				t.Fatalf("results = %d, want FAILURE", br.Results)
			}
			p, raw := sink.await(t, "failure finished", func(p Push) bool {
				return p.Kind == PushBuildFinished && p.BuildRequestID == brid
			})
			if p.Results != Failure || p.TaskID != "T-failure" || p.BuilderName != "win" {
				t.Fatalf("push = %+v", p)
			}
			recordPush(t, "build-finished-failure", raw)
		})
	})

	t.Run("PropertiesAsJSONString", func(t *testing.T) {
		// bridge_scheduler takes the properties as a JSON-encoded string
		// too, as a form would send them.
		params := map[string]any{
			"builderNames": []string{"win"}, "username": "taskcluster-bridge <bridge@localhost>",
			PropertiesParam: `{"taskId": "T-string", "sleep": 0, "nested": {"a": [1, 2]}}`,
		}
		var result []json.RawMessage
		if err := c.call(ctxT(t), "api/v2/forceschedulers/taskcluster", nil, "force", params, &result); err != nil {
			t.Fatal(err)
		}
		_, brid, err := forceResult("", result)
		if err != nil {
			t.Fatal(err)
		}
		br, err := c.BuildRequestProperties(ctxT(t), brid)
		if err != nil {
			t.Fatal(err)
		}
		assertProps(t, "request", br.Properties, []Property{prop("taskId", "T-string"), prop("sleep", 0), prop("nested", map[string]any{"a": []int{1, 2}})})

		params[PropertiesParam] = `["not", "an", "object"]`
		err = c.call(ctxT(t), "api/v2/forceschedulers/taskcluster", nil, "force", params, &result)
		var he *HTTPError
		if !errors.As(err, &he) || he.RPCCode != rpcInvalidParams || !IsPermanent(err) || !strings.Contains(he.Body, PropertiesParam) {
			t.Fatalf("force with a JSON array of properties = %v, want a permanent invalid params", err)
		}
		waitComplete(t, c, brid)
	})

	t.Run("PendingCancelledAndRunningStopped", func(t *testing.T) {
		testCancelAndStop(t, c, sink, ids["linux"], testStart)
	})

	t.Run("RetryThenCancelRunning", func(t *testing.T) {
		brid := force(t, c, "win", prop("taskId", "T-retry"), prop("sleep", 60))
		first := waitRunning(t, c, brid, "sleep")
		m.StopWorker(t)
		p, raw := sink.await(t, "retry finished", func(p Push) bool {
			return p.Kind == PushBuildFinished && p.BuildID == first.ID
		})
		if p.Results != Retry || p.TaskID != "T-retry" {
			t.Fatalf("push = %+v, want RETRY of T-retry", p)
		}
		recordPush(t, "build-finished-retry", raw)
		// The request goes back to the queue, unclaimed, for a new build.
		br, err := c.BuildRequest(ctxT(t), brid)
		if err != nil || br.Complete || br.Claimed || br.ClaimedAt != 0 || br.Results != -1 {
			t.Fatalf("after RETRY: %+v, %v", br, err)
		}

		m.StartWorker(t)
		second := waitRunning(t, c, brid, "sleep")
		if second.ID == first.ID {
			t.Fatalf("no new build after RETRY: %+v", second)
		}
		// Cancelling a running request stops its build.
		if err := c.CancelRequest(ctxT(t), brid, "test: cancel running"); err != nil {
			t.Fatal(err)
		}
		if br := waitComplete(t, c, brid); br.Results != Cancelled {
			t.Fatalf("results = %d, want CANCELLED", br.Results)
		}
		builds, err := c.Builds(ctxT(t), brid)
		if err != nil || len(builds) != 2 || *builds[0].Results != Retry || builds[1].Results == nil || *builds[1].Results != Cancelled {
			t.Fatalf("builds = %+v, %v; want RETRY then CANCELLED", builds, err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		testForceErrors(t, c)
		_, err := c.BuildRequest(ctxT(t), 987654)
		if !errors.Is(err, ErrNotFound) || !IsPermanent(err) {
			t.Fatalf("BuildRequest(missing) = %v, want a permanent ErrNotFound", err)
		}
		// Control calls that find nothing still succeed: callers read back.
		if err := c.CancelRequest(ctxT(t), 987654, "test"); err != nil {
			t.Fatalf("CancelRequest(missing) = %v", err)
		}
		if err := c.StopBuild(ctxT(t), 987654, "test"); err != nil {
			t.Fatalf("StopBuild(missing) = %v", err)
		}
	})
}

func testSuccess(t *testing.T, c *Client, sink *pushSink, linux int64) {
	props := []Property{
		prop("taskId", "T-success"),
		prop("sleep", 0),
		prop("list", []any{1, "two", []int{3}}),
		prop("dict", map[string]any{"a": 1, "b": map[string]any{"c": []string{"d"}}}),
		prop("int", 42),
		prop("quote", `it's "quoted"; $(rm -rf /)`),
	}
	bsid, brid, err := c.Force(ctxT(t), ForceRequest{
		Scheduler: "taskcluster", Builder: "linux", Reason: "success test",
		Username:    "taskcluster-bridge <bridge@localhost>",
		Sourcestamp: Sourcestamp{Branch: "release", Revision: "abc123", Repository: "https://hg.example/repo", Project: "proj"},
		Properties:  props,
	})
	if err != nil || bsid <= 0 || brid <= 0 {
		t.Fatalf("Force = %d, %d, %v", bsid, brid, err)
	}

	br, err := c.BuildRequestProperties(ctxT(t), brid)
	if err != nil {
		t.Fatal(err)
	}
	if br.ID != brid || br.BuildsetID != bsid || br.BuilderID != linux || br.SubmittedAt == 0 {
		t.Fatalf("request = %+v", br)
	}
	assertProps(t, "request", br.Properties, props)

	done := waitComplete(t, c, brid)
	if done.Results != Success || !done.Claimed || done.ClaimedAt == 0 || done.CompleteAt == 0 || done.Properties != nil {
		t.Fatalf("finished request = %+v", done)
	}
	builds, err := c.Builds(ctxT(t), brid)
	if err != nil || len(builds) != 1 {
		t.Fatalf("Builds = %+v, %v", builds, err)
	}
	b := builds[0]
	if !b.Complete || b.Results == nil || *b.Results != Success || b.BuilderID != linux || b.BuildRequestID != brid ||
		b.Number <= 0 || b.MasterID <= 0 || b.WorkerID <= 0 || b.StartedAt == 0 || b.CompleteAt == 0 || b.StateString == "" {
		t.Fatalf("build = %+v", b)
	}

	bprops, err := c.BuildProperties(ctxT(t), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertProps(t, "build", bprops, props)
	for name, want := range map[string]string{"branch": "release", "revision": "abc123", "repository": "https://hg.example/repo", "project": "proj"} {
		if got := bprops[name][0]; got != want {
			t.Errorf("build property %s = %v, want %q", name, got, want)
		}
	}

	logs, err := c.BuildLogs(ctxT(t), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(logs, func(l Log) bool { return l.StepName == "taskid" && l.Slug == "stdio" })
	if i < 0 {
		t.Fatalf("no stdio log of step taskid in %+v", logs)
	}
	if !strings.HasPrefix(logs[i].RawURL, c.APIURL()+"api/v2/logs/") || logs[i].StepNumber <= 0 {
		t.Fatalf("log = %+v", logs[i])
	}
	if text := fetch(t, logs[i].RawURL); !strings.Contains(text, "taskId=T-success") {
		t.Fatalf("raw log of step taskid lacks the taskId:\n%s", text)
	}
	if got, want := c.BuildURL(b.BuilderID, b.Number), c.APIURL()+"#/builders/"; !strings.HasPrefix(got, want) {
		t.Fatalf("BuildURL = %q", got)
	}

	p, raw := sink.await(t, "request new", func(p Push) bool { return p.Kind == PushOther && p.BuildRequestID == brid })
	if p.TaskID != "T-success" || p.BuilderID != linux || p.BuilderName != "linux" || p.BuildID != 0 || p.Results != -1 {
		t.Fatalf("request push = %+v", p)
	}
	recordPush(t, "request-new", raw)
	p, raw = sink.await(t, "build started", func(p Push) bool { return p.Kind == PushBuildStarted && p.BuildRequestID == brid })
	if p.BuildID != b.ID || p.BuildNumber != b.Number || p.Results != -1 || p.TaskID != "T-success" || p.MasterID != b.MasterID {
		t.Fatalf("start push = %+v, build %+v", p, b)
	}
	recordPush(t, "build-started", raw)
	p, raw = sink.await(t, "build finished", func(p Push) bool { return p.Kind == PushBuildFinished && p.BuildRequestID == brid })
	if p.BuildID != b.ID || p.Results != Success || p.TaskID != "T-success" || p.BuilderName != "linux" || p.URL == "" {
		t.Fatalf("finish push = %+v", p)
	}
	assertProps(t, "push", p.Properties, props)
	recordPush(t, "build-finished-success", raw)
}

func testCancelAndStop(t *testing.T, c *Client, sink *pushSink, linux int64, since int64) {
	// The one worker runs one build per builder at a time: while this one
	// sleeps, the next request on linux stays pending.
	running := force(t, c, "linux", prop("taskId", "T-stopped"), prop("sleep", 60))
	build := waitRunning(t, c, running, "sleep")
	br, err := c.BuildRequest(ctxT(t), running)
	if err != nil || !br.Claimed || br.ClaimedAt == 0 || br.Complete || br.Results != -1 {
		t.Fatalf("running request = %+v, %v", br, err)
	}
	if build.Results != nil || build.CompleteAt != 0 {
		t.Fatalf("running build = %+v", build)
	}

	pending := force(t, c, "linux", prop("taskId", "T-pending"))
	br, err = c.BuildRequest(ctxT(t), pending)
	if err != nil || br.Claimed || br.ClaimedAt != 0 || br.Complete || br.Results != -1 {
		t.Fatalf("pending request = %+v, %v", br, err)
	}
	for _, incompleteOnly := range []bool{true, false} {
		found, err := c.FindRequests(ctxT(t), linux, "T-pending", incompleteOnly)
		if err != nil || len(found) != 1 || found[0].ID != pending || found[0].Properties["taskId"][0] != "T-pending" {
			t.Fatalf("FindRequests(T-pending, %v) = %+v, %v", incompleteOnly, found, err)
		}
	}
	if found, err := c.FindRequests(ctxT(t), linux, "T-nobody", false); err != nil || len(found) != 0 {
		t.Fatalf("FindRequests(T-nobody) = %+v, %v", found, err)
	}
	// Several requests on linux by now: pages of one must still find it.
	paged := newClient(t, Config{APIURL: c.APIURL()})
	paged.pageSize = 1
	if found, err := paged.FindRequests(ctxT(t), linux, "T-pending", false); err != nil || len(found) != 1 || found[0].ID != pending {
		t.Fatalf("FindRequests in pages of 1 = %+v, %v", found, err)
	}

	if err := c.CancelRequest(ctxT(t), pending, "test: cancel pending"); err != nil {
		t.Fatal(err)
	}
	br = waitComplete(t, c, pending)
	// Buildbot cancels a pending request by claiming it, then completing
	// it: it reads back claimed, although no build ever ran.
	if br.Results != Cancelled || !br.Claimed || br.ClaimedAt == 0 {
		t.Fatalf("cancelled pending request = %+v", br)
	}
	if builds, err := c.Builds(ctxT(t), pending); err != nil || len(builds) != 0 {
		t.Fatalf("builds of the cancelled pending request = %+v, %v", builds, err)
	}
	p, raw := sink.await(t, "request cancelled", func(p Push) bool { return p.Kind == PushRequestCancelled && p.BuildRequestID == pending })
	if p.TaskID != "T-pending" || p.Results != Cancelled || p.BuildID != 0 || p.BuilderName != "linux" {
		t.Fatalf("cancel push = %+v", p)
	}
	recordPush(t, "request-cancelled", raw)

	if err := c.StopBuild(ctxT(t), build.ID, "test: stop running"); err != nil {
		t.Fatal(err)
	}
	if br := waitComplete(t, c, running); br.Results != Cancelled {
		t.Fatalf("request of the stopped build = %+v", br)
	}
	builds, err := c.Builds(ctxT(t), running)
	if err != nil || len(builds) != 1 || builds[0].Results == nil || *builds[0].Results != Cancelled {
		t.Fatalf("stopped build = %+v, %v", builds, err)
	}
	p, raw = sink.await(t, "stopped build finished", func(p Push) bool { return p.Kind == PushBuildFinished && p.BuildID == build.ID })
	if p.Results != Cancelled || p.TaskID != "T-stopped" {
		t.Fatalf("stop push = %+v", p)
	}
	recordPush(t, "build-finished-cancelled", raw)

	cancelled, err := c.CancelledSince(ctxT(t), since, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cancelled {
		if r.Results != Cancelled || !r.Complete || r.CompleteAt < since {
			t.Fatalf("CancelledSince returned %+v", r)
		}
		got = append(got, r.Properties["taskId"][0].(string))
	}
	if !slices.Contains(got, "T-pending") || !slices.Contains(got, "T-stopped") {
		t.Fatalf("CancelledSince(%d) taskIds = %v", since, got)
	}
	if !slices.IsSortedFunc(cancelled, func(a, b BuildRequest) int {
		if a.CompleteAt != b.CompleteAt {
			return int(a.CompleteAt - b.CompleteAt)
		}
		return int(a.ID - b.ID)
	}) {
		t.Fatalf("CancelledSince not ordered by complete_at, id: %+v", cancelled)
	}
	if one, err := c.CancelledSince(ctxT(t), since, 1); err != nil || len(one) != 1 || one[0].ID != cancelled[0].ID {
		t.Fatalf("CancelledSince(limit 1) = %+v, %v", one, err)
	}
	if none, err := c.CancelledSince(ctxT(t), time.Now().Unix()+3600, 0); err != nil || len(none) != 0 {
		t.Fatalf("CancelledSince(future) = %+v, %v", none, err)
	}
}

func testForceErrors(t *testing.T, c *Client) {
	for _, builder := range []string{"no-such-builder", "unbridged"} {
		_, _, err := c.Force(ctxT(t), ForceRequest{Scheduler: "taskcluster", Builder: builder, Username: "taskcluster-bridge <bridge@localhost>"})
		var ub *UnknownBuilderError
		if !errors.Is(err, ErrUnknownBuilder) || !errors.As(err, &ub) || ub.Builder != builder || !IsPermanent(err) || !strings.Contains(err.Error(), builder) {
			t.Fatalf("Force on %s = %v, want a permanent ErrUnknownBuilder naming it", builder, err)
		}
	}
	_, _, err := c.Force(ctxT(t), ForceRequest{Scheduler: "no-such-scheduler", Builder: "linux"})
	if !errors.Is(err, ErrUnknownScheduler) || !IsPermanent(err) || errors.Is(err, ErrUnknownBuilder) {
		t.Fatalf("Force through an unknown scheduler = %v", err)
	}
	_, _, err = c.Force(ctxT(t), ForceRequest{Scheduler: "taskcluster", Builder: "linux", Username: "no address"})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.RPCCode != rpcInvalidParams || !IsPermanent(err) || !strings.Contains(he.Body, "username") {
		t.Fatalf("Force with a bad username = %v, want a permanent 400 invalid params", err)
	}
	_, _, err = c.Force(ctxT(t), ForceRequest{Scheduler: "taskcluster", Builder: "linux", Properties: []Property{{Name: "x", Value: json.RawMessage(`{`)}}})
	if !errors.Is(err, ErrInvalidRequest) || !IsPermanent(err) {
		t.Fatalf("Force with a bad property = %v", err)
	}
}

func assertProps(t *testing.T, what string, got map[string][2]any, want []Property) {
	t.Helper()
	for _, p := range want {
		v, ok := got[p.Name]
		if !ok {
			t.Errorf("%s property %s missing", what, p.Name)
			continue
		}
		b, _ := json.Marshal(v[0])
		if string(b) != string(p.Value) {
			t.Errorf("%s property %s = %s, want %s", what, p.Name, b, p.Value)
		}
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}
