package tcfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// claimJSON is task-claim-response.json.
type claimJSON struct {
	Status      statusJSON      `json:"status"`
	RunID       int             `json:"runId"`
	WorkerGroup string          `json:"workerGroup"`
	WorkerID    string          `json:"workerId"`
	TakenUntil  string          `json:"takenUntil"`
	Task        taskDef         `json:"task"`
	Credentials credentialsJSON `json:"credentials"`
}

// reclaimJSON is task-reclaim-response.json.
type reclaimJSON struct {
	Status      statusJSON      `json:"status"`
	RunID       int             `json:"runId"`
	WorkerGroup string          `json:"workerGroup"`
	WorkerID    string          `json:"workerId"`
	TakenUntil  string          `json:"takenUntil"`
	Credentials credentialsJSON `json:"credentials"`
}

func taskNotFound(taskID string) string {
	return fmt.Sprintf("Task `%s` not found. Are you sure it was created?", taskID)
}

func runNotFound(taskID string, runID string) string {
	return fmt.Sprintf("Run %s not found on task `%s`.", runID, taskID)
}

// lookupRun finds the task and run named in the URL; the caller holds q.mu.
func (q *Queue) lookupRun(req *apiRequest, taskMissing string) (*task, int, *run, *reply) {
	taskID := req.params["taskId"]
	t, ok := q.tasks[taskID]
	if !ok {
		return nil, 0, nil, req.fail("ResourceNotFound", taskMissing)
	}
	runID := req.runID()
	if runID < 0 || runID >= len(t.runs) {
		return t, runID, nil, req.fail("ResourceNotFound", runNotFound(taskID, req.params["runId"]))
	}
	return t, runID, t.runs[runID], nil
}

func handleClaimTask(req *apiRequest) *reply {
	q := req.q
	var in struct {
		WorkerGroup string `json:"workerGroup"`
		WorkerID    string `json:"workerId"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return req.fail("InputValidationError", "Request payload must match the schema task-claim-request.json: "+err.Error())
	}
	taskID := req.params["taskId"]

	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[taskID]
	if !ok {
		return req.fail("ResourceNotFound", taskNotFound(taskID))
	}
	if rep := req.authorize(allOf(
		scope("queue:claim-task:"+t.def.ProvisionerID+"/"+t.def.WorkerType),
		scope("queue:worker-id:"+in.WorkerGroup+"/"+in.WorkerID),
	)); rep != nil {
		return rep
	}
	now := q.now()
	if !t.deadline.After(now) {
		return req.fail("RequestConflict", fmt.Sprintf("Task `%s` can't be claimed past its deadline of %s.", taskID, t.def.Deadline))
	}
	if q.quarantined[in.WorkerGroup+"/"+in.WorkerID] {
		return okReply(map[string]any{})
	}
	runID := req.runID()
	if runID < 0 || runID >= len(t.runs) {
		return req.fail("ResourceNotFound", runNotFound(taskID, req.params["runId"]))
	}
	r := t.runs[runID]
	takenUntil := now.Add(q.opts.ClaimTimeout)
	latest := runID == len(t.runs)-1
	if latest && r.state == statePending {
		r.state = stateRunning
		r.workerGroup = in.WorkerGroup
		r.workerID = in.WorkerID
		r.takenUntil = takenUntil
		r.started = now
	}
	if !latest || r.state != stateRunning || r.workerGroup != in.WorkerGroup || r.workerID != in.WorkerID {
		return req.fail("RequestConflict", fmt.Sprintf("Run %d was already claimed by another worker.", runID))
	}
	creds, err := q.taskCredentials(t, runID, in.WorkerGroup, in.WorkerID, takenUntil)
	if err != nil {
		return req.fail("InternalServerError", "tcfake: issuing credentials failed")
	}
	// Sent again on a repeated claim, as the real queue does.
	m := newMessage("task-running", t, runID, r.workerGroup, r.workerID, false)
	m.body.TakenUntil = formatTime(r.takenUntil)
	req.msgs = append(req.msgs, m)
	return okReply(claimJSON{
		Status:      t.status(),
		RunID:       runID,
		WorkerGroup: r.workerGroup,
		WorkerID:    r.workerID,
		TakenUntil:  formatTime(r.takenUntil),
		Task:        t.def,
		Credentials: creds,
	})
}

func handleReclaimTask(req *apiRequest) *reply {
	q := req.q
	taskID := req.params["taskId"]
	q.mu.Lock()
	defer q.mu.Unlock()
	t, runID, r, rep := q.lookupRun(req, taskNotFound(taskID))
	if rep != nil {
		return rep
	}
	now := q.now()
	if !t.deadline.After(now) {
		return req.fail("RequestConflict", fmt.Sprintf("Task `%s` can't be reclaimed past its deadline of %s.", taskID, t.def.Deadline))
	}
	takenUntil := now.Add(q.opts.ClaimTimeout)
	if runID != len(t.runs)-1 || r.state != stateRunning {
		return req.fail("RequestConflict", fmt.Sprintf("Run %d on task `%s` is resolved or not running.", runID, taskID))
	}
	// reclaim_task only ever moves takenUntil forward; the reply still shows
	// now + claimTimeout, as api.js does.
	if takenUntil.After(r.takenUntil) {
		r.takenUntil = takenUntil
	}
	creds, err := q.taskCredentials(t, runID, r.workerGroup, r.workerID, takenUntil)
	if err != nil {
		return req.fail("InternalServerError", "tcfake: issuing credentials failed")
	}
	return okReply(reclaimJSON{
		Status:      t.status(),
		RunID:       runID,
		WorkerGroup: r.workerGroup,
		WorkerID:    r.workerID,
		TakenUntil:  formatTime(takenUntil),
		Credentials: creds,
	})
}

func handleReportCompleted(req *apiRequest) *reply {
	target := stateCompleted
	// Very old workers reported failure as completed with success: false.
	if m, ok := req.payload.(map[string]any); ok && m["success"] == false {
		target = stateFailed
	}
	return resolveRun(req, target)
}

func handleReportFailed(req *apiRequest) *reply {
	return resolveRun(req, stateFailed)
}

// resolveRun is api.js's resolveTask for completed and failed.
func resolveRun(req *apiRequest, target string) *reply {
	q := req.q
	taskID := req.params["taskId"]
	q.mu.Lock()
	defer q.mu.Unlock()
	t, runID, r, rep := q.lookupRun(req, taskNotFound(taskID))
	if rep != nil {
		return rep
	}
	if r.state != stateRunning && r.state != target {
		return req.fail("RequestConflict", fmt.Sprintf("Run %d of task `%s` is not running or %s.", runID, taskID, target))
	}
	latest := runID == len(t.runs)-1
	if latest && r.state == stateRunning {
		r.state = target
		r.reasonResolved = target
		r.resolved = q.now()
		delete(q.active, taskID)
	}
	if !latest || r.state != target || r.reasonResolved != target {
		return req.fail("RequestConflict", fmt.Sprintf("Run %d on task `%s` is resolved or not running.", runID, taskID))
	}
	exchange := "task-completed"
	if target == stateFailed {
		exchange = "task-failed"
	}
	req.msgs = append(req.msgs, newMessage(exchange, t, runID, r.workerGroup, r.workerID, true))
	return okReply(map[string]any{"status": t.status()})
}

func handleReportException(req *apiRequest) *reply {
	q := req.q
	var in struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return req.fail("InputValidationError", "Request payload must match the schema task-exception-request.json: "+err.Error())
	}
	taskID := req.params["taskId"]
	q.mu.Lock()
	defer q.mu.Unlock()
	t, runID, r, rep := q.lookupRun(req, fmt.Sprintf("Task `%s` not found. Are you sure it exists?", taskID))
	if rep != nil {
		return rep
	}
	retryReason := ""
	switch in.Reason {
	case "worker-shutdown":
		retryReason = "retry"
	case "intermittent-task":
		retryReason = "task-retry"
	}
	now := q.now()
	if runID == len(t.runs)-1 && r.state == stateRunning {
		r.state = stateException
		r.reasonResolved = in.Reason
		r.resolved = now
		delete(q.active, taskID)
		if retryReason != "" && t.retriesLeft > 0 {
			t.runs = append(t.runs, &run{state: statePending, reasonCreated: retryReason, scheduled: now})
			t.retriesLeft--
			q.active[taskID] = t
		}
	}
	if len(t.runs)-1 > runID+1 || r.state != stateException || r.reasonResolved != in.Reason {
		return req.fail("RequestConflict", fmt.Sprintf("Run %d on task `%s` is resolved or not running.", runID, taskID))
	}
	if next := runID + 1; next == len(t.runs)-1 && t.runs[next].state == statePending &&
		(t.runs[next].reasonCreated == "retry" || t.runs[next].reasonCreated == "task-retry") {
		// A retry: only task-pending is announced, no task-exception.
		req.msgs = append(req.msgs, newMessage("task-pending", t, next, "", "", true))
	} else {
		req.msgs = append(req.msgs, newMessage("task-exception", t, runID, r.workerGroup, r.workerID, true))
	}
	return okReply(map[string]any{"status": t.status()})
}

// claimExpired is check_task_claim plus the claim resolver's publishing; the
// caller holds q.mu and has checked that the run's claim has run out.
func (q *Queue) claimExpired(t *task, now time.Time) []pulseMessage {
	runID := len(t.runs) - 1
	r := t.runs[runID]
	r.state = stateException
	r.reasonResolved = "claim-expired"
	r.resolved = now
	delete(q.active, t.id)
	if t.retriesLeft > 0 {
		t.runs = append(t.runs, &run{state: statePending, reasonCreated: "retry", scheduled: now})
		t.retriesLeft--
		q.active[t.id] = t
		return []pulseMessage{newMessage("task-pending", t, runID+1, "", "", false)}
	}
	return []pulseMessage{newMessage("task-exception", t, runID, r.workerGroup, r.workerID, false)}
}
