package tcfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

func TestPing(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.queue.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// TestLifecycle drives one task through create, claim, reclaim, artifacts
// and completion with the official client, checking every reply against the
// upstream schema and every Pulse message as RabbitMQ delivers it.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	id := newTaskID(t)
	def := taskDefinition(e.clock.Now(), 2)
	def.Routes = []string{"index.project.releng.bbb"}
	created, err := e.queue.CreateTask(id, def)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	e.checkReply(t, "task-status-response")
	if s := created.Status; s.State != "pending" || len(s.Runs) != 1 || s.Runs[0].ReasonCreated != "scheduled" || s.RetriesLeft != 2 || s.TaskGroupID != id {
		t.Fatalf("created status = %+v", s)
	}
	// task-defined (no run yet) then task-pending, each also CC'd to the route.
	defined := e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	if st := defined["status"].(map[string]any); st["state"] != "unscheduled" {
		t.Errorf("task-defined status state = %v", st["state"])
	}
	e.pulse.expect(t, "task-defined", "route.index.project.releng.bbb")
	pending := e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))
	if pending["runId"] != float64(0) {
		t.Errorf("task-pending runId = %v, want 0", pending["runId"])
	}
	if tags := pending["task"].(map[string]any)["tags"].(map[string]any); tags["kind"] != "test" {
		t.Errorf("task-pending task.tags = %v", tags)
	}
	e.pulse.expect(t, "task-pending", "route.index.project.releng.bbb")

	got, err := e.queue.Task(id)
	if err != nil {
		t.Fatalf("Task: %v", err)
	}
	e.checkReply(t, "task")
	if got.Priority != "lowest" || got.ProjectID != "none" || got.Requires != "all-completed" || got.TaskQueueID != provisionerID+"/"+workerType {
		t.Errorf("defaults not filled in: %+v", got)
	}

	claimAt := e.clock.Now()
	claim := e.claim(t, id, "0")
	e.checkReply(t, "task-claim-response")
	wantTaken := claimAt.Add(20 * time.Minute)
	if !time.Time(claim.TakenUntil).Equal(wantTaken) {
		t.Errorf("takenUntil = %v, want claim time + 1200 s = %v", time.Time(claim.TakenUntil), wantTaken)
	}
	if claim.Status.State != "running" || claim.Status.Runs[0].WorkerID != workerID || claim.Task.Payload == nil {
		t.Errorf("claim reply = %+v", claim)
	}
	running := e.pulse.expect(t, "task-running", key(id, "0", workerGroup, workerID))
	if running["takenUntil"] != time.Time(claim.TakenUntil).UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("task-running takenUntil = %v", running["takenUntil"])
	}
	e.pulse.expect(t, "task-running", "route.index.project.releng.bbb")

	e.clock.Advance(5 * time.Minute)
	reclaim, err := e.queue.ReclaimTask(id, "0")
	if err != nil {
		t.Fatalf("ReclaimTask: %v", err)
	}
	e.checkReply(t, "task-reclaim-response")
	if want := wantTaken.Add(5 * time.Minute); !time.Time(reclaim.TakenUntil).Equal(want) {
		t.Errorf("reclaim takenUntil = %v, want %v", time.Time(reclaim.TakenUntil), want)
	}
	if reclaim.Credentials.Certificate == claim.Credentials.Certificate {
		t.Error("reclaim did not issue new credentials")
	}

	// s3 artifact: upload to putUrl, find it through getArtifact.
	expires := tcclient.Time(e.clock.Now().Add(24 * time.Hour))
	props := []byte(`{"buildername":["Linux x86-64 mozilla-central build","bbb"]}`)
	s3req := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.S3ArtifactRequest{StorageType: "s3", ContentType: "application/json", Expires: expires}))
	s3raw, err := e.queue.CreateArtifact(id, "0", "public/properties.json", &s3req)
	if err != nil {
		t.Fatalf("CreateArtifact s3: %v", err)
	}
	e.checkReply(t, "post-artifact-response")
	var s3resp tcqueue.S3ArtifactResponse
	unmarshal(t, *s3raw, &s3resp)
	put(t, s3resp.PutURL, "application/json", props)

	ref := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.RedirectArtifactRequest{
		StorageType: "reference", ContentType: "application/gzip", Expires: expires,
		URL: "https://buildbot.example.com/builds/42/log.gz",
	}))
	if _, err := e.queue.CreateArtifact(id, "0", "public/logs/live_backing.log.gz", &ref); err != nil {
		t.Fatalf("CreateArtifact reference: %v", err)
	}
	e.checkReply(t, "post-artifact-response")
	// s3 artifacts are not announced; reference ones are.
	ac := e.pulse.expect(t, "artifact-created", key(id, "0", workerGroup, workerID))
	if a := ac["artifact"].(map[string]any); a["name"] != "public/logs/live_backing.log.gz" || a["storageType"] != "reference" {
		t.Errorf("artifact-created artifact = %v", a)
	}
	e.pulse.expect(t, "artifact-created", "route.index.project.releng.bbb")

	list, err := e.queue.ListArtifacts(id, "0", "", "")
	if err != nil {
		t.Fatalf("ListArtifacts: %v", err)
	}
	e.checkReply(t, "list-artifacts-response")
	if len(list.Artifacts) != 2 || list.Artifacts[0].Name != "public/logs/live_backing.log.gz" || list.Artifacts[1].Name != "public/properties.json" {
		t.Errorf("artifacts = %+v", list.Artifacts)
	}
	if _, err := e.queue.ListLatestArtifacts(id, "", ""); err != nil {
		t.Errorf("ListLatestArtifacts: %v", err)
	}

	got3, err := e.queue.GetArtifact(id, "0", "public/properties.json")
	if err != nil {
		t.Fatalf("GetArtifact: %v", err)
	}
	e.checkReply(t, "get-artifact-response")
	if data, ct := get(t, got3.URL); !bytes.Equal(data, props) || ct != "application/json" {
		t.Errorf("s3 artifact read back %q (%s), want %q", data, ct, props)
	}
	gotRef, err := e.queue.GetLatestArtifact(id, "public/logs/live_backing.log.gz")
	if err != nil {
		t.Fatalf("GetLatestArtifact: %v", err)
	}
	if gotRef.URL != "https://buildbot.example.com/builds/42/log.gz" {
		t.Errorf("reference artifact url = %q", gotRef.URL)
	}
	stored := e.q.Artifacts(id, 0)
	if len(stored) != 2 || !bytes.Equal(stored[1].Body, props) || stored[1].BodyContentType != "application/json" || stored[0].URL != gotRef.URL {
		t.Errorf("Artifacts() = %+v", stored)
	}

	done, err := e.queue.ReportCompleted(id, "0")
	if err != nil {
		t.Fatalf("ReportCompleted: %v", err)
	}
	e.checkReply(t, "task-status-response")
	r0 := done.Status.Runs[0]
	if done.Status.State != "completed" || r0.ReasonResolved != "completed" || time.Time(r0.Resolved).IsZero() {
		t.Errorf("completed status = %+v", done.Status)
	}
	completed := e.pulse.expect(t, "task-completed", key(id, "0", workerGroup, workerID))
	if completed["runId"] != float64(0) || completed["workerId"] != workerID {
		t.Errorf("task-completed = %v", completed)
	}
	e.pulse.expect(t, "task-completed", "route.index.project.releng.bbb")
	e.pulse.none(t)

	st, err := e.queue.Status(id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	e.checkReply(t, "task-status-response")
	inspected, ok := e.q.Status(id)
	if !ok || inspected.State != "completed" || st.Status.State != "completed" {
		t.Errorf("Status() = %+v, %v", inspected, ok)
	}

	var methods []string
	for _, c := range e.q.Calls() {
		methods = append(methods, c.Method)
	}
	want := []string{"createTask", "task", "claimTask", "reclaimTask", "createArtifact", "createArtifact", "listArtifacts", "listLatestArtifacts", "getArtifact", "getLatestArtifact", "reportCompleted", "status"}
	if len(methods) != len(want) {
		t.Fatalf("calls = %v, want %v", methods, want)
	}
	for i := range want {
		if methods[i] != want[i] {
			t.Fatalf("calls = %v, want %v", methods, want)
		}
	}
	if c := e.q.Calls()[2]; c.TaskID != id || c.RunID != 0 || c.Status != 200 || !bytes.Contains(c.Body, []byte(workerID)) {
		t.Errorf("claim call record = %+v", c)
	}
}

func TestCreateTaskIdempotency(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	id := newTaskID(t)
	def := taskDefinition(e.clock.Now(), 1)
	if _, err := e.queue.CreateTask(id, def); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))

	// The identical definition again: 200, same single run, messages resent.
	again, err := e.queue.CreateTask(id, def)
	if err != nil {
		t.Fatalf("repeat CreateTask: %v", err)
	}
	if len(again.Status.Runs) != 1 {
		t.Errorf("repeat created another run: %+v", again.Status.Runs)
	}
	e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))

	other := taskDefinition(e.clock.Now(), 1)
	other.Payload = []byte(`{"buildername":"something else"}`)
	_, err = e.queue.CreateTask(id, other)
	body := wantAPIError(t, err, 409, "RequestConflict")
	if body.RequestInfo.Method != "createTask" || body.RequestInfo.Params["taskId"] != id {
		t.Errorf("requestInfo = %+v", body.RequestInfo)
	}
	e.pulse.none(t)

	bad := taskDefinition(e.clock.Now(), 1)
	bad.WorkerType = "Not_Lower_Case"
	_, err = e.queue.CreateTask(newTaskID(t), bad)
	wantAPIError(t, err, 400, "InputValidationError")

	late := taskDefinition(e.clock.Now(), 1)
	late.Deadline = tcclient.Time(e.clock.Now().Add(-time.Minute))
	late.Created = tcclient.Time(e.clock.Now().Add(-2 * time.Minute))
	_, err = e.queue.CreateTask(newTaskID(t), late)
	wantAPIError(t, err, 400, "InputError")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, url, contentType string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

func get(t *testing.T, url string) ([]byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return data, resp.Header.Get("Content-Type")
}

func unmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/queue/v1/no-such-method"},
		{http.MethodPost, "/api/queue/v1/task/" + newTaskID(t)}, // createTask is PUT
		{http.MethodGet, "/api/index/v1/task/x"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, tc.method, e.q.RootURL()+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body apiErrorBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 404 || err != nil || body.Code != "ResourceNotFound" {
			t.Errorf("%s %s: %d %+v %v", tc.method, tc.path, resp.StatusCode, body, err)
		}
	}
}
