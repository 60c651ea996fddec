package tcfake_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// TestSnapshotRestore saves a queue's state through JSON, as the demo does
// at Ctrl-C, restores it into a fresh queue, and checks that a client sees
// the same tasks and that the restored state machine goes on from there.
func TestSnapshotRestore(t *testing.T) {
	before := newEnv(t, envOptions{})

	// A claimed task with an uploaded artifact and one retry left, a
	// pending one, a completed one and a quarantined worker.
	claimed := before.createTask(t, 1)
	claim := before.claim(t, claimed, "0")
	exp := before.clock.Now().Add(24 * time.Hour)
	raw, err := before.queue.CreateArtifact(claimed, "0", "public/properties.json", s3Request(t, "application/json", exp))
	if err != nil {
		t.Fatal(err)
	}
	var s3resp tcqueue.S3ArtifactResponse
	unmarshal(t, *raw, &s3resp)
	props := []byte(`{"buildername":["linux64","bbb"]}`)
	if code := putStatus(t, s3resp.PutURL, "application/json", props); code != http.StatusOK {
		t.Fatalf("upload: %d", code)
	}
	pending := before.createTask(t, 0)
	done := before.createTask(t, 0)
	before.claim(t, done, "0")
	if _, err := before.queue.ReportCompleted(done, "0"); err != nil {
		t.Fatal(err)
	}
	before.q.Quarantine("bad-group", "bad-worker")

	data, err := json.Marshal(before.q.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap tcfake.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}

	after := newEnv(t, envOptions{})
	after.clock.Set(before.clock.Now())
	if err := after.q.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	for _, id := range []string{claimed, pending, done} {
		want, err := before.queue.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := after.queue.Status(id)
		if err != nil {
			t.Fatalf("status of %s after restore: %v", id, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("status of %s after restore:\n got %+v\nwant %+v", id, got.Status, want.Status)
		}
		wantDef, err := before.queue.Task(id)
		if err != nil {
			t.Fatal(err)
		}
		gotDef, err := after.queue.Task(id)
		if err != nil {
			t.Fatalf("task %s after restore: %v", id, err)
		}
		if !reflect.DeepEqual(gotDef, wantDef) {
			t.Errorf("definition of %s after restore differs:\n got %+v\nwant %+v", id, gotDef, wantDef)
		}
	}
	arts := after.q.Artifacts(claimed, 0)
	if len(arts) != 1 || arts[0].Name != "public/properties.json" || !arts[0].Uploaded || string(arts[0].Body) != string(props) {
		t.Errorf("artifacts after restore = %+v", arts)
	}

	// createTask is idempotent against the restored definition, and a
	// different definition under the same taskId is still a conflict.
	orig, err := before.queue.Task(pending)
	if err != nil {
		t.Fatal(err)
	}
	def := taskDefinition(before.clock.Now(), 0)
	def.Created, def.Deadline, def.Expires = orig.Created, orig.Deadline, orig.Expires
	def.TaskGroupID = orig.TaskGroupID
	if _, err := after.queue.CreateTask(pending, def); err != nil {
		t.Errorf("repeating createTask after restore: %v", err)
	}
	def.Retries = 3
	_, err = after.queue.CreateTask(pending, def)
	wantAPIError(t, err, 409, "RequestConflict")

	// The restored claim is live: the holder can reclaim and resolve it.
	if _, err := after.queue.ReclaimTask(claimed, "0"); err != nil {
		t.Errorf("reclaim of a restored claim: %v", err)
	}
	// The quarantine survived: a claim by that worker gets no takenUntil.
	q, err := after.queue.ClaimTask(pending, "0", &tcqueue.TaskClaimRequest{WorkerGroup: "bad-group", WorkerID: "bad-worker"})
	if err != nil {
		t.Fatal(err)
	}
	if !time.Time(q.TakenUntil).IsZero() {
		t.Errorf("quarantined worker got a claim until %v", time.Time(q.TakenUntil))
	}

	// Claims still expire: past takenUntil the restored run ends with
	// claim-expired and the retry run is pending.
	after.clock.Advance(time.Until(time.Time(claim.TakenUntil)) + 30*time.Minute)
	after.q.RunResolvers()
	st, err := after.queue.Status(claimed)
	if err != nil {
		t.Fatal(err)
	}
	runs := st.Status.Runs
	if len(runs) != 2 || runs[0].State != "exception" || runs[0].ReasonResolved != "claim-expired" || runs[1].State != "pending" || runs[1].ReasonCreated != "retry" {
		t.Errorf("after claim expiry, runs = %+v", runs)
	}
}

func TestRestoreRefuses(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)
	snap := e.q.Snapshot()

	if err := e.q.Restore(snap); err == nil || !strings.Contains(err.Error(), "without tasks") {
		t.Errorf("Restore into a queue with tasks: %v", err)
	}

	fresh := newEnv(t, envOptions{})
	bad := snap
	bad.Version = 99
	if err := fresh.q.Restore(bad); err == nil {
		t.Error("Restore accepted an unknown version")
	}
	bad = tcfake.Snapshot{Version: tcfake.SnapshotVersion, Tasks: []tcfake.SnapshotTask{snap.Tasks[0], snap.Tasks[0]}}
	if err := fresh.q.Restore(bad); err == nil {
		t.Error("Restore accepted a task listed twice")
	}
	broken := snap.Tasks[0]
	broken.Runs = append([]tcfake.SnapshotRun{{State: "running"}}, broken.Runs...)
	bad = tcfake.Snapshot{Version: tcfake.SnapshotVersion, Tasks: []tcfake.SnapshotTask{broken}}
	if err := fresh.q.Restore(bad); err == nil {
		t.Error("Restore accepted a running run that is not the last")
	}
	// A refused snapshot leaves nothing behind.
	if _, ok := fresh.q.Status(id); ok {
		t.Error("a refused snapshot left a task in the queue")
	}
	if err := fresh.q.Restore(snap); err != nil {
		t.Errorf("Restore after refusals: %v", err)
	}
	if _, ok := fresh.q.Status(id); !ok {
		t.Error("task missing after Restore")
	}
}
