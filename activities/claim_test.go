package activities_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

func TestClaimAndReclaimRun(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{claimTimeout: 90 * time.Second})
	taskID := b.createTask(t, taskSpec{})

	before := time.Now()
	var claim activities.ClaimResult
	b.must(t, &claim, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	if claim.TakenUntil.IsZero() {
		t.Fatal("ClaimRun returned no takenUntil for a pending run")
	}
	period := claim.TakenUntil.Sub(claim.RepliedAt)
	if period < 80*time.Second || period > 95*time.Second {
		t.Errorf("claim period %s (takenUntil %s, replied %s), want about the queue's 90s claim timeout",
			period, claim.TakenUntil, claim.RepliedAt)
	}
	if claim.RepliedAt.Before(before) {
		t.Errorf("RepliedAt %s is before the call", claim.RepliedAt)
	}
	run := b.status(t, taskID).Runs[0]
	if run.State != "running" || run.WorkerGroup != workerGroup || run.WorkerID != workerID {
		t.Errorf("run 0 = %s by %s/%s, want running by %s/%s", run.State, run.WorkerGroup, run.WorkerID, workerGroup, workerID)
	}
	if got := historyJSON(t, claim); containsAny(got, "credentials", "accessToken", "certificate") != "" {
		t.Errorf("claim result in history carries credentials: %s", got)
	}

	time.Sleep(20 * time.Millisecond) // the queue's clock has millisecond precision
	var reclaim activities.ClaimResult
	b.must(t, &reclaim, b.acts.ReclaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	if !reclaim.TakenUntil.After(claim.TakenUntil) {
		t.Errorf("reclaim takenUntil %s, want later than the claim's %s", reclaim.TakenUntil, claim.TakenUntil)
	}
	if got := historyJSON(t, reclaim); containsAny(got, "credentials", "accessToken", "certificate") != "" {
		t.Errorf("reclaim result in history carries credentials: %s", got)
	}
}

func TestClaimByQuarantinedWorkerIsNotAClaim(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	taskID := b.createTask(t, taskSpec{})
	b.queue.Quarantine(workerGroup, workerID)

	var claim activities.ClaimResult
	b.must(t, &claim, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	if !claim.TakenUntil.IsZero() {
		t.Fatalf("quarantined claim returned takenUntil %s, want zero", claim.TakenUntil)
	}
	if st := b.status(t, taskID).Runs[0].State; st != "pending" {
		t.Errorf("run 0 is %s after a quarantined claim, want still pending", st)
	}
}

func TestTaskclusterRefusalsAreFinal(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	taskID := b.createTask(t, taskSpec{})

	// Resolving a run nobody claimed: 409 RequestConflict.
	err := b.run(t, nil, b.acts.ReportCompleted, activities.RunRef{TaskID: taskID, RunID: 0})
	wantFinal(t, err, activities.ErrTCConflict)
	if !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "RequestConflict") {
		t.Errorf("error %q should carry the status and the queue's code", err)
	}
	if strings.Contains(err.Error(), "requestInfo") || strings.Contains(err.Error(), "CALL SUMMARY") {
		t.Errorf("error %q carries the client's call dump", err)
	}

	// A run that does not exist: 404 ResourceNotFound.
	err = b.run(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 3})
	wantFinal(t, err, activities.ErrTCNotFound)

	// A task that does not exist.
	var st activities.TaskStatus
	err = b.run(t, &st, b.acts.TaskStatus, "fN1gQ8ZPRZOaXM0ypZq1Pw")
	wantFinal(t, err, activities.ErrTCNotFound)

	// Reclaiming a run that is not running: 409.
	err = b.run(t, nil, b.acts.ReclaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	wantFinal(t, err, activities.ErrTCConflict)

	// An exception reason the queue does not accept: 400.
	err = b.run(t, nil, b.acts.ReportException, activities.ExceptionInput{TaskID: taskID, RunID: 0, Reason: "no-such-reason"})
	wantFinal(t, err, activities.ErrTCBadRequest)
}

func TestForbiddenIsFinal(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		// A worker id the bridge's scopes do not cover.
		d.WorkerID = "someone-else"
	}})
	taskID := b.createTask(t, taskSpec{})
	err := b.run(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	wantFinal(t, err, activities.ErrTCForbidden)
}

func TestResolveRunsAndIdempotentRepeats(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	completed := b.createTask(t, taskSpec{})
	failed := b.createTask(t, taskSpec{})
	malformed := b.createTask(t, taskSpec{})
	for _, id := range []string{completed, failed, malformed} {
		b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: id, RunID: 0})
	}

	b.must(t, nil, b.acts.ReportCompleted, activities.RunRef{TaskID: completed, RunID: 0})
	// A retried activity repeats the call; the queue answers 200 again.
	b.must(t, nil, b.acts.ReportCompleted, activities.RunRef{TaskID: completed, RunID: 0})
	b.must(t, nil, b.acts.ReportFailed, activities.RunRef{TaskID: failed, RunID: 0})
	b.must(t, nil, b.acts.ReportFailed, activities.RunRef{TaskID: failed, RunID: 0})
	b.must(t, nil, b.acts.ReportException, activities.ExceptionInput{TaskID: malformed, RunID: 0, Reason: "malformed-payload"})

	for id, want := range map[string][2]string{
		completed: {"completed", "completed"},
		failed:    {"failed", "failed"},
		malformed: {"exception", "malformed-payload"},
	} {
		run := b.status(t, id).Runs[0]
		if run.State != want[0] || run.ReasonResolved != want[1] {
			t.Errorf("task %s run 0 = %s/%s, want %s/%s", id, run.State, run.ReasonResolved, want[0], want[1])
		}
	}
	// Completed is final: failing it now is a conflict.
	err := b.run(t, nil, b.acts.ReportFailed, activities.RunRef{TaskID: completed, RunID: 0})
	wantFinal(t, err, activities.ErrTCConflict)
}

func TestStatusRerunAndCancel(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	taskID := b.createTask(t, taskSpec{retries: 2})

	var st activities.TaskStatus
	b.must(t, &st, b.acts.TaskStatus, taskID)
	if st.TaskID != taskID || st.State != "pending" || len(st.Runs) != 1 {
		t.Fatalf("status = %+v, want one pending run", st)
	}
	r := st.Runs[0]
	if r.RunID != 0 || r.State != "pending" || r.ReasonCreated != "scheduled" || r.Scheduled.IsZero() || !r.TakenUntil.IsZero() {
		t.Errorf("run 0 = %+v, want pending, scheduled, with a scheduled time and no takenUntil", r)
	}
	if st.Deadline.Before(time.Now().Add(23*time.Hour)) || st.Expires.Before(st.Deadline) {
		t.Errorf("deadline %s / expires %s not carried over", st.Deadline, st.Expires)
	}

	b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	b.must(t, &st, b.acts.CancelTask, taskID)
	if st.State != "exception" || st.Runs[0].ReasonResolved != "canceled" {
		t.Fatalf("after CancelTask: %s, run 0 %s/%s; want exception/canceled", st.State, st.Runs[0].State, st.Runs[0].ReasonResolved)
	}

	b.must(t, &st, b.acts.RerunTask, taskID)
	if len(st.Runs) != 2 || st.Runs[1].State != "pending" || st.Runs[1].ReasonCreated != "rerun" {
		t.Fatalf("after RerunTask: runs %+v, want a new pending run created by rerun", st.Runs)
	}
	// On a pending task rerun is a no-op: still two runs.
	b.must(t, &st, b.acts.RerunTask, taskID)
	if len(st.Runs) != 2 {
		t.Errorf("rerun of a pending task made %d runs, want 2", len(st.Runs))
	}
}

func TestServerErrorsAreRetriedBriefly(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	taskID := b.createTask(t, taskSpec{})

	// Two 500s then success: the client's own short backoff absorbs them.
	var failures int
	b.queue.SetFault(func(method string) (int, bool) {
		if method == "status" && failures < 2 {
			failures++
			return http.StatusInternalServerError, false
		}
		return 0, false
	})
	var st activities.TaskStatus
	b.must(t, &st, b.acts.TaskStatus, taskID)

	// A queue that keeps answering 503 is left to the activity retry
	// policy after about 20 s, not the client's default 15 minutes.
	b.queue.SetFault(func(method string) (int, bool) {
		if method == "status" {
			return http.StatusServiceUnavailable, false
		}
		return 0, false
	})
	start := time.Now()
	err := b.run(t, &st, b.acts.TaskStatus, taskID)
	wantRetryable(t, err)
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("TaskStatus gave up after %s, want about 20s", took)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q should carry the 503", err)
	}
}

func TestUnreachableQueueIsRetryable(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.Queue = activities.NewQueue("http://127.0.0.1:1", bridgeClient, "x")
	}})
	var st activities.TaskStatus
	err := b.run(t, &st, b.acts.TaskStatus, "fN1gQ8ZPRZOaXM0ypZq1Pw")
	wantRetryable(t, err)
}

// A queue whose clock is 3 minutes off ours: the claim's reply says by how
// much, so that takenUntil (on the queue's clock) becomes a time on ours.
// The measure may err only towards the queue being ahead (by the Date
// header's one-second resolution and the round trip), so the claim never
// seems to last longer than it does.
func TestClaimMeasuresTheQueueClock(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{3 * time.Minute, -3 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			b := newBridge(t, bridgeOptions{claimTimeout: 90 * time.Second, tcClock: tcfake.SkewedClock(skew)})
			taskID := b.createTask(t, taskSpec{})
			var claim activities.ClaimResult
			b.must(t, &claim, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
			if !claim.Read {
				t.Fatal("the claim's reply did not measure the queue's clock")
			}
			if claim.Ahead < skew || claim.Ahead > skew+1500*time.Millisecond {
				t.Errorf("queue clock measured %s ahead, want %s to %s+1.5s", claim.Ahead, skew, skew)
			}
			ends := claim.TakenUntil.Add(-claim.Ahead)
			if period := ends.Sub(claim.RepliedAt); period < 87*time.Second || period > 90*time.Second {
				t.Errorf("claim lasts %s on our clock, want just under the queue's 90s claim timeout", period)
			}
			var reclaim activities.ClaimResult
			b.must(t, &reclaim, b.acts.ReclaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
			if !reclaim.Read || reclaim.Ahead < skew || reclaim.Ahead > skew+1500*time.Millisecond {
				t.Errorf("reclaim measured %+v, want the queue %s ahead", reclaim.QueueClock, skew)
			}
			var st activities.TaskStatus
			b.must(t, &st, b.acts.TaskStatus, taskID)
			if !st.Read || st.Ahead < skew || st.Ahead > skew+1500*time.Millisecond {
				t.Errorf("status measured %+v, want the queue %s ahead", st.QueueClock, skew)
			}
		})
	}
}
