package tcfake_test

import (
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

func TestClaimExpiry(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	id := newTaskID(t)
	def := taskDefinition(e.clock.Now(), 1)
	def.Deadline = tcclient.Time(e.clock.Now().Add(3 * time.Hour)) // claims expire, deadline does not
	if _, err := e.queue.CreateTask(id, def); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))
	claim := e.claim(t, id, "0")
	e.pulse.expect(t, "task-running", key(id, "0", workerGroup, workerID))

	// Past takenUntil but before the resolver acts, a reclaim still works.
	e.clock.Set(time.Time(claim.TakenUntil).Add(time.Second))
	if _, err := e.queue.ReclaimTask(id, "0"); err != nil {
		t.Fatalf("reclaim after takenUntil, resolver idle: %v", err)
	}
	e.q.RunResolvers()
	if s, _ := e.q.Status(id); s.Runs[0].State != "running" {
		t.Fatalf("reclaimed run expired anyway: %+v", s.Runs[0])
	}

	// Let the claim lapse: claim-expired, a retry run, only task-pending.
	e.clock.Advance(20*time.Minute + time.Second)
	e.q.RunResolvers()
	st, err := e.queue.Status(id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	e.checkReply(t, "task-status-response")
	r0, r1 := st.Status.Runs[0], st.Status.Runs[1]
	if r0.State != "exception" || r0.ReasonResolved != "claim-expired" || r1.State != "pending" || r1.ReasonCreated != "retry" || st.Status.RetriesLeft != 0 {
		t.Fatalf("after expiry: %+v", st.Status)
	}
	msg := e.pulse.expect(t, "task-pending", key(id, "1", "_", "_"))
	if msg["runId"] != float64(1) {
		t.Errorf("task-pending runId = %v", msg["runId"])
	}
	if _, has := msg["task"]; has {
		t.Errorf("claim-expiry task-pending carries task: %v", msg["task"])
	}
	e.pulse.none(t)

	_, err = e.queue.ReclaimTask(id, "0")
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 409, "RequestConflict")

	// No retries left: the second expiry resolves the task.
	e.claim(t, id, "1")
	e.pulse.expect(t, "task-running", key(id, "1", workerGroup, workerID))
	e.clock.Advance(21 * time.Minute)
	e.q.RunResolvers()
	exc := e.pulse.expect(t, "task-exception", key(id, "1", workerGroup, workerID))
	if r := runOf(t, exc, 1); r["reasonResolved"] != "claim-expired" {
		t.Errorf("task-exception run = %v", r)
	}
	if exc["runId"] != float64(1) {
		t.Errorf("task-exception runId = %v", exc["runId"])
	}
	e.pulse.none(t)
	if s, _ := e.q.Status(id); s.State != "exception" || len(s.Runs) != 2 {
		t.Errorf("final status %+v", s)
	}
}

func TestDeadline(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	pendingID := e.createTask(t, 0)
	runningID := e.createTask(t, 0)
	for _, id := range []string{pendingID, runningID} {
		e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
		e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))
	}
	e.claim(t, runningID, "0")
	e.pulse.expect(t, "task-running", key(runningID, "0", workerGroup, workerID))
	// Keep the claim alive past the deadline, as a worker would.
	for i := 0; i < 3; i++ {
		e.clock.Advance(15 * time.Minute)
		if _, err := e.queue.ReclaimTask(runningID, "0"); err != nil {
			t.Fatalf("reclaim: %v", err)
		}
	}
	e.clock.Advance(15*time.Minute + time.Second) // 1 h 1 s: past the deadline
	_, err := e.queue.ReclaimTask(runningID, "0")
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.ClaimTask(pendingID, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.CancelTask(pendingID)
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.RerunTask(pendingID)
	wantAPIError(t, err, 409, "RequestConflict")

	e.q.RunResolvers() // within DeadlineDelay: nothing yet
	e.pulse.none(t)
	e.clock.Advance(time.Minute)
	e.q.RunResolvers()
	got := map[string]map[string]any{}
	for i := 0; i < 2; i++ {
		rk, msg := e.pulse.next(t, "task-exception")
		id, _ := msg["status"].(map[string]any)["taskId"].(string)
		if rk != key(id, "0", "_", "_") {
			t.Errorf("deadline task-exception routing key %s", rk)
		}
		got[id] = msg
	}
	for _, id := range []string{pendingID, runningID} {
		msg, ok := got[id]
		if !ok {
			t.Fatalf("no task-exception for %s", id)
		}
		if r := runOf(t, msg, 0); r["state"] != "exception" || r["reasonResolved"] != "deadline-exceeded" {
			t.Errorf("%s run 0 = %v", id, r)
		}
		if _, has := msg["workerId"]; has {
			t.Errorf("deadline task-exception names a worker: %v", msg)
		}
	}
	e.pulse.none(t)
}

func TestClaimConflictsAndNotFound(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, err := e.queue.Status(newTaskID(t))
	body := wantAPIError(t, err, 404, "ResourceNotFound")
	if body.RequestInfo.Method != "status" {
		t.Errorf("requestInfo.method = %q", body.RequestInfo.Method)
	}

	unknown := newTaskID(t)
	_, err = e.queue.ClaimTask(unknown, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	body = wantAPIError(t, err, 404, "ResourceNotFound")
	if body.RequestInfo.Method != "claimTask" || !strings.Contains(body.Message, unknown) || body.RequestInfo.Params["runId"] != "0" {
		t.Errorf("404 body = %+v", body)
	}

	id := e.createTask(t, 0)
	_, err = e.queue.ClaimTask(id, "1", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 404, "ResourceNotFound")
	first := e.claim(t, id, "0")

	// The same worker again: 200, the original takenUntil, new credentials.
	e.clock.Advance(time.Minute)
	again := e.claim(t, id, "0")
	if !time.Time(again.TakenUntil).Equal(time.Time(first.TakenUntil)) || again.Credentials.Certificate == first.Credentials.Certificate {
		t.Errorf("repeat claim takenUntil %v (was %v)", time.Time(again.TakenUntil), time.Time(first.TakenUntil))
	}
	_, err = e.queue.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: "someone-else"})
	wantAPIError(t, err, 409, "RequestConflict")

	// Run 0 is not the latest once it is retried.
	if _, err := e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "internal-error"}); err != nil {
		t.Fatalf("ReportException: %v", err)
	}
	if _, err := e.queue.RerunTask(id); err != nil {
		t.Fatalf("RerunTask: %v", err)
	}
	_, err = e.queue.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.ClaimTask(id, "x", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 400, "InvalidRequestArguments")
}

func TestResolveIdempotency(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)
	e.claim(t, id, "0")
	if _, err := e.queue.ReportCompleted(id, "0"); err != nil {
		t.Fatalf("ReportCompleted: %v", err)
	}
	if _, err := e.queue.ReportCompleted(id, "0"); err != nil {
		t.Fatalf("second ReportCompleted: %v", err)
	}
	_, err := e.queue.ReportFailed(id, "0")
	wantAPIError(t, err, 409, "RequestConflict")

	rerun, err := e.queue.RerunTask(id)
	if err != nil {
		t.Fatalf("RerunTask: %v", err)
	}
	e.checkReply(t, "task-status-response")
	if len(rerun.Status.Runs) != 2 {
		t.Fatalf("rerun runs = %+v", rerun.Status.Runs)
	}
	// Completed already, but no longer the latest run.
	_, err = e.queue.ReportCompleted(id, "0")
	wantAPIError(t, err, 409, "RequestConflict")
	// Pending, not running.
	_, err = e.queue.ReportCompleted(id, "1")
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.ReportCompleted(id, "2")
	wantAPIError(t, err, 404, "ResourceNotFound")
}

func TestReportException(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	id := e.createTask(t, 1)
	e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))
	e.claim(t, id, "0")
	e.pulse.expect(t, "task-running", key(id, "0", workerGroup, workerID))

	res, err := e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "worker-shutdown"})
	if err != nil {
		t.Fatalf("ReportException: %v", err)
	}
	e.checkReply(t, "task-status-response")
	if r := res.Status.Runs; len(r) != 2 || r[0].ReasonResolved != "worker-shutdown" || r[1].State != "pending" || r[1].ReasonCreated != "retry" {
		t.Fatalf("after worker-shutdown: %+v", r)
	}
	pend := e.pulse.expect(t, "task-pending", key(id, "1", "_", "_"))
	if _, has := pend["task"]; !has {
		t.Errorf("retry task-pending lacks task: %v", pend)
	}
	e.pulse.none(t) // no task-exception for a retried run

	// Repeating it is accepted (and announced again), as upstream.
	if _, err := e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "worker-shutdown"}); err != nil {
		t.Fatalf("repeat ReportException: %v", err)
	}
	e.pulse.expect(t, "task-pending", key(id, "1", "_", "_"))
	_, err = e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "malformed-payload"})
	wantAPIError(t, err, 409, "RequestConflict")

	// Retries exhausted: intermittent-task resolves the task.
	e.claim(t, id, "1")
	e.pulse.expect(t, "task-running", key(id, "1", workerGroup, workerID))
	res, err = e.queue.ReportException(id, "1", &tcqueue.TaskExceptionRequest{Reason: "intermittent-task"})
	if err != nil {
		t.Fatalf("ReportException: %v", err)
	}
	if res.Status.State != "exception" || len(res.Status.Runs) != 2 {
		t.Errorf("status %+v", res.Status)
	}
	exc := e.pulse.expect(t, "task-exception", key(id, "1", workerGroup, workerID))
	if r := runOf(t, exc, 1); r["reasonResolved"] != "intermittent-task" {
		t.Errorf("run = %v", r)
	}

	_, err = e.queue.ReportException(id, "1", &tcqueue.TaskExceptionRequest{Reason: "no-such-reason"})
	wantAPIError(t, err, 400, "InputValidationError")
}

func TestCancelTask(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	pendingID := e.createTask(t, 0)
	runningID := e.createTask(t, 0)
	for _, id := range []string{pendingID, runningID} {
		e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
		e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))
	}
	e.claim(t, runningID, "0")
	e.pulse.expect(t, "task-running", key(runningID, "0", workerGroup, workerID))

	res, err := e.queue.CancelTask(pendingID)
	if err != nil {
		t.Fatalf("CancelTask pending: %v", err)
	}
	e.checkReply(t, "task-status-response")
	if r := res.Status.Runs[0]; r.State != "exception" || r.ReasonResolved != "canceled" {
		t.Errorf("canceled pending run = %+v", r)
	}
	e.pulse.expect(t, "task-exception", key(pendingID, "0", "_", "_"))

	if _, err := e.queue.CancelTask(runningID); err != nil {
		t.Fatalf("CancelTask running: %v", err)
	}
	exc := e.pulse.expect(t, "task-exception", key(runningID, "0", workerGroup, workerID))
	if r := runOf(t, exc, 0); r["reasonResolved"] != "canceled" {
		t.Errorf("run = %v", r)
	}
	_, err = e.queue.ReclaimTask(runningID, "0")
	wantAPIError(t, err, 409, "RequestConflict")

	// A resolved task: cancel is a no-op that returns the status.
	doneID := e.createTask(t, 0)
	e.pulse.expect(t, "task-defined", key(doneID, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(doneID, "0", "_", "_"))
	e.claim(t, doneID, "0")
	e.pulse.expect(t, "task-running", key(doneID, "0", workerGroup, workerID))
	if _, err := e.queue.ReportFailed(doneID, "0"); err != nil {
		t.Fatalf("ReportFailed: %v", err)
	}
	e.pulse.expect(t, "task-failed", key(doneID, "0", workerGroup, workerID))
	res, err = e.queue.CancelTask(doneID)
	if err != nil {
		t.Fatalf("CancelTask failed task: %v", err)
	}
	if res.Status.State != "failed" {
		t.Errorf("cancel changed a resolved task: %+v", res.Status)
	}
	e.pulse.none(t)
}

func TestRerunTask(t *testing.T) {
	e := newEnv(t, envOptions{pulse: true})
	id := e.createTask(t, 3)
	e.pulse.expect(t, "task-defined", key(id, "_", "_", "_"))
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))

	// Pending: idempotent, no new run (task-pending is announced again).
	res, err := e.queue.RerunTask(id)
	if err != nil || len(res.Status.Runs) != 1 {
		t.Fatalf("rerun of pending task: %v %+v", err, res)
	}
	e.pulse.expect(t, "task-pending", key(id, "0", "_", "_"))

	e.claim(t, id, "0")
	e.pulse.expect(t, "task-running", key(id, "0", workerGroup, workerID))
	if _, err := e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "worker-shutdown"}); err != nil {
		t.Fatal(err)
	}
	e.pulse.expect(t, "task-pending", key(id, "1", "_", "_"))
	e.claim(t, id, "1")
	e.pulse.expect(t, "task-running", key(id, "1", workerGroup, workerID))
	if _, err := e.queue.ReportCompleted(id, "1"); err != nil {
		t.Fatal(err)
	}
	e.pulse.expect(t, "task-completed", key(id, "1", workerGroup, workerID))

	res, err = e.queue.RerunTask(id)
	if err != nil {
		t.Fatalf("RerunTask: %v", err)
	}
	e.checkReply(t, "task-status-response")
	runs := res.Status.Runs
	if len(runs) != 3 || runs[2].State != "pending" || runs[2].ReasonCreated != "rerun" || res.Status.RetriesLeft != 3 {
		t.Fatalf("after rerun: retriesLeft %d, runs %+v", res.Status.RetriesLeft, runs)
	}
	msg := e.pulse.expect(t, "task-pending", key(id, "2", "_", "_"))
	if _, has := msg["task"]; has {
		t.Errorf("rerun task-pending carries task: %v", msg)
	}
	e.pulse.none(t)

	_, err = e.queue.RerunTask(newTaskID(t))
	wantAPIError(t, err, 404, "ResourceNotFound")
}

func TestQuarantinedWorker(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)
	e.q.Quarantine(workerGroup, workerID)
	resp, err := e.queue.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	if err != nil {
		t.Fatalf("ClaimTask: %v", err)
	}
	if got := string(e.rec.lastBody()); got != "{}" {
		t.Errorf("quarantined claim reply = %s, want {}", got)
	}
	if !time.Time(resp.TakenUntil).IsZero() {
		t.Errorf("quarantined claim has takenUntil %v", time.Time(resp.TakenUntil))
	}
	if s, _ := e.q.Status(id); s.State != "pending" {
		t.Errorf("quarantined claim changed the task: %+v", s)
	}
}
