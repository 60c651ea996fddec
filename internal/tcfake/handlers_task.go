package tcfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// priorityLevels, highest first (services/queue/src/api.js).
var priorityLevels = []string{"highest", "very-high", "high", "medium", "low", "very-low", "lowest"}

// createTaskInput is create-task-request.json; the schema has been checked.
type createTaskInput struct {
	ProvisionerID string          `json:"provisionerId"`
	WorkerType    string          `json:"workerType"`
	TaskQueueID   string          `json:"taskQueueId"`
	SchedulerID   string          `json:"schedulerId"`
	ProjectID     string          `json:"projectId"`
	TaskGroupID   string          `json:"taskGroupId"`
	Dependencies  []string        `json:"dependencies"`
	Requires      string          `json:"requires"`
	Routes        []string        `json:"routes"`
	Priority      string          `json:"priority"`
	Retries       *int            `json:"retries"`
	Created       string          `json:"created"`
	Deadline      string          `json:"deadline"`
	Expires       string          `json:"expires"`
	Scopes        []string        `json:"scopes"`
	Payload       json.RawMessage `json:"payload"`
	Metadata      json.RawMessage `json:"metadata"`
	Tags          json.RawMessage `json:"tags"`
	Extra         json.RawMessage `json:"extra"`
}

func handleCreateTask(req *apiRequest) *reply {
	q := req.q
	taskID := req.params["taskId"]
	var in createTaskInput
	if err := json.Unmarshal(req.body, &in); err != nil {
		return req.fail("InputValidationError", "Request payload must match the schema create-task-request.json: "+err.Error())
	}

	switch {
	case in.ProvisionerID != "" && in.WorkerType != "" && in.TaskQueueID != "":
		if in.ProvisionerID+"/"+in.WorkerType != in.TaskQueueID {
			return req.fail("InputError", `taskQueueId must match "provisionerId/workerType"`)
		}
	case in.ProvisionerID != "" && in.WorkerType != "":
		in.TaskQueueID = in.ProvisionerID + "/" + in.WorkerType
	case in.TaskQueueID != "":
		in.ProvisionerID, in.WorkerType, _ = strings.Cut(in.TaskQueueID, "/")
	default:
		return req.fail("InputError", `at least a provisionerId and a workerType or a taskQueueId must be provided"`)
	}
	applyCreateDefaults(&in)

	if rep := req.authorize(createTaskScopes(taskID, &in)); rep != nil {
		return rep
	}

	now := q.now()
	created, deadline, expires, rep := req.validateTaskTimes(&in, now)
	if rep != nil {
		return rep
	}
	if in.TaskGroupID == "" {
		in.TaskGroupID = taskID
	}
	for _, s := range in.Scopes {
		if strings.HasSuffix(s, "**") {
			return req.fail("InputError", "scopes must not end with `**`")
		}
	}
	if len(in.Dependencies) > 0 {
		return req.fail("InputError", "tcfake: tasks with dependencies are not supported by this stand-in")
	}
	def, err := buildDef(&in, created, deadline, expires)
	if err != nil {
		return req.fail("InputError", "tcfake: "+err.Error())
	}
	canonical, err := json.Marshal(def)
	if err != nil {
		return req.fail("InternalServerError", "tcfake: encode definition")
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if sched, ok := q.groupScheduler(def.TaskGroupID); ok && sched != def.SchedulerID {
		return req.fail("RequestConflict", fmt.Sprintf("Task group `%s` contains tasks with a schedulerId other\nthan `%s`. All tasks in the same task-group must have\nthe same schedulerId.",
			def.TaskGroupID, def.SchedulerID))
	}
	t, exists := q.tasks[taskID]
	if exists {
		if !bytes.Equal(t.canonical, canonical) {
			return req.fail("RequestConflict", fmt.Sprintf("taskId `%s` already used by another task.\nThis could be the result of faulty idempotency!", taskID))
		}
	} else {
		t = &task{
			id:          taskID,
			def:         def,
			canonical:   canonical,
			deadline:    deadline,
			expires:     expires,
			retriesLeft: def.Retries,
			artifacts:   map[int]map[string]*artifact{},
		}
	}
	// As in api.js, task-defined carries the status the task has before its
	// first run, and is sent again on an idempotent repeat.
	defined := newMessage("task-defined", &task{id: taskID, def: t.def, retriesLeft: t.def.Retries}, -1, "", "", true)
	if !exists {
		t.runs = []*run{{state: statePending, reasonCreated: "scheduled", scheduled: now}}
		q.tasks[taskID] = t
		q.active[taskID] = t
		q.setGroupScheduler(def.TaskGroupID, def.SchedulerID)
	}
	req.msgs = append(req.msgs, defined)
	if t.runs[0].state == statePending {
		req.msgs = append(req.msgs, newMessage("task-pending", t, 0, "", "", true))
	}
	return okReply(map[string]any{"status": t.status()})
}

// applyCreateDefaults fills in what the schema's defaults would (the real
// queue validates with useDefaults) plus the handler's own defaults.
func applyCreateDefaults(in *createTaskInput) {
	if in.ProjectID == "" {
		in.ProjectID = "none"
	}
	if in.SchedulerID == "" {
		in.SchedulerID = "-"
	}
	if in.Priority == "" || in.Priority == "normal" {
		in.Priority = "lowest"
	}
	if in.Requires == "" {
		in.Requires = "all-completed"
	}
	if in.Retries == nil {
		five := 5
		in.Retries = &five
	}
	if in.Dependencies == nil {
		in.Dependencies = []string{}
	}
	if in.Routes == nil {
		in.Routes = []string{}
	}
	if in.Scopes == nil {
		in.Scopes = []string{}
	}
	if len(in.Tags) == 0 {
		in.Tags = json.RawMessage(`{}`)
	}
	if len(in.Extra) == 0 {
		in.Extra = json.RawMessage(`{}`)
	}
}

// createTaskScopes is createTask's scope expression from api.js.
func createTaskScopes(taskID string, in *createTaskInput) scopeExpr {
	var all []scopeExpr
	for _, s := range in.Scopes {
		all = append(all, scope(s))
	}
	for _, r := range in.Routes {
		all = append(all, scope("queue:route:"+r))
	}
	all = append(all,
		scope("queue:create-task:project:"+in.ProjectID),
		scope("queue:scheduler-id:"+in.SchedulerID))
	var prios []scopeExpr
	for _, p := range priorityLevels {
		prios = append(prios, scope("queue:create-task:"+p+":"+in.ProvisionerID+"/"+in.WorkerType))
		if p == in.Priority {
			break
		}
	}
	all = append(all, anyOf(prios...))
	return allOf(all...)
}

// validateTaskTimes applies patchAndValidateTaskDef's checks.
func (req *apiRequest) validateTaskTimes(in *createTaskInput, now time.Time) (created, deadline, expires time.Time, rep *reply) {
	parse := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}
		}
		return msTime(t.UTC())
	}
	created, deadline = parse(in.Created), parse(in.Deadline)
	const drift = 15 * time.Minute
	switch {
	case created.IsZero() || deadline.IsZero():
		return created, deadline, expires, req.fail("InputError", "`created` and `deadline` must be date-times")
	case created.Before(now.Add(-drift)):
		return created, deadline, expires, req.fail("InputError", "`created` cannot be in the past (max 15min drift)")
	case created.After(now.Add(drift)):
		return created, deadline, expires, req.fail("InputError", "`created` cannot be in the future (max 15min drift)")
	case created.After(deadline):
		return created, deadline, expires, req.fail("InputError", "`deadline` cannot be later than `created`")
	case deadline.Before(now):
		return created, deadline, expires, req.fail("InputError", "`deadline` cannot be in the past")
	case deadline.Sub(now) > 5*24*time.Hour+drift:
		return created, deadline, expires, req.fail("InputError", "`deadline` cannot be more than 5 days into the future")
	}
	if in.Expires == "" {
		expires = deadline.AddDate(1, 0, 0)
	} else {
		expires = parse(in.Expires)
	}
	if deadline.After(expires) {
		return created, deadline, expires, req.fail("InputError", "`expires` cannot be before `deadline`")
	}
	return created, deadline, expires, nil
}

func buildDef(in *createTaskInput, created, deadline, expires time.Time) (taskDef, error) {
	def := taskDef{
		ProvisionerID: in.ProvisionerID,
		WorkerType:    in.WorkerType,
		TaskQueueID:   in.TaskQueueID,
		SchedulerID:   in.SchedulerID,
		ProjectID:     in.ProjectID,
		TaskGroupID:   in.TaskGroupID,
		Dependencies:  in.Dependencies,
		Requires:      in.Requires,
		Routes:        in.Routes,
		Priority:      in.Priority,
		Retries:       *in.Retries,
		Created:       formatTime(created),
		Deadline:      formatTime(deadline),
		Expires:       formatTime(expires),
		Scopes:        in.Scopes,
	}
	var err error
	for _, f := range []struct {
		dst *json.RawMessage
		src json.RawMessage
	}{{&def.Payload, in.Payload}, {&def.Metadata, in.Metadata}, {&def.Tags, in.Tags}, {&def.Extra, in.Extra}} {
		if *f.dst, err = canonicalJSON(f.src); err != nil {
			return def, err
		}
	}
	return def, nil
}

// canonicalJSON re-encodes a JSON value with sorted keys, keeping numbers as
// written, so that equal definitions compare equal byte for byte.
func canonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// groupScheduler and setGroupScheduler track each task group's schedulerId;
// the caller holds q.mu.
func (q *Queue) groupScheduler(group string) (string, bool) {
	s, ok := q.groups[group]
	return s, ok
}

func (q *Queue) setGroupScheduler(group, schedulerID string) {
	q.groups[group] = schedulerID
}

func (q *Queue) lookupTask(req *apiRequest, notFound string) (*task, *reply) {
	t, ok := q.tasks[req.params["taskId"]]
	if !ok {
		return nil, req.fail("ResourceNotFound", notFound)
	}
	return t, nil
}

func handleTask(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	t, rep := q.lookupTask(req, fmt.Sprintf("`%s` does not correspond to a task that exists.\nAre you sure this task has already been submitted?", req.params["taskId"]))
	if rep != nil {
		return rep
	}
	return okReply(t.def)
}

func handleStatus(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	t, rep := q.lookupTask(req, fmt.Sprintf("`%s` does not correspond to a task that exists.\nAre you sure this task exists?", req.params["taskId"]))
	if rep != nil {
		return rep
	}
	return okReply(map[string]any{"status": t.status()})
}

// taskAdminScopes is the AnyOf expression rerunTask and cancelTask share,
// with verb "rerun" or "cancel".
func taskAdminScopes(verb string, t *task) scopeExpr {
	return anyOf(
		scope("queue:"+verb+"-task:"+t.def.SchedulerID+"/"+t.def.TaskGroupID+"/"+t.id),
		scope("queue:"+verb+"-task-in-project:"+t.def.ProjectID),
		allOf(
			scope("queue:"+verb+"-task"),
			scope("assume:scheduler-id:"+t.def.SchedulerID+"/"+t.def.TaskGroupID),
		),
	)
}

func handleRerunTask(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	taskID := req.params["taskId"]
	t, rep := q.lookupTask(req, fmt.Sprintf("`%s` does not correspond to a task that exists.\nAre you sure this task has been submitted before?", taskID))
	if rep != nil {
		return rep
	}
	if rep := req.authorize(taskAdminScopes("rerun", t)); rep != nil {
		return rep
	}
	now := q.now()
	if t.deadline.Before(now) {
		return req.fail("RequestConflict", fmt.Sprintf("Task `%s` can't be rescheduled past its deadline of %s.", taskID, t.def.Deadline))
	}
	last := t.lastRun()
	if (last == nil || !last.active()) && len(t.runs) < maxRuns {
		// rerun_task: retries_left = least(retries, max_runs - last_run_id - 2)
		t.retriesLeft = min(t.def.Retries, maxRuns-(len(t.runs)-1)-2)
		t.runs = append(t.runs, &run{state: statePending, reasonCreated: "rerun", scheduled: now})
		q.active[taskID] = t
	}
	state := t.state()
	if state != statePending && state != stateRunning && len(t.runs) >= maxRuns {
		return req.fail("RequestConflict", fmt.Sprintf("Maximum number of runs reached (%d).", maxRuns))
	}
	if state == statePending {
		req.msgs = append(req.msgs, newMessage("task-pending", t, len(t.runs)-1, "", "", false))
	}
	return okReply(map[string]any{"status": t.status()})
}

func handleCancelTask(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	taskID := req.params["taskId"]
	t, rep := q.lookupTask(req, fmt.Sprintf("Task `%s` not found. Are you sure it was created?", taskID))
	if rep != nil {
		return rep
	}
	if rep := req.authorize(taskAdminScopes("cancel", t)); rep != nil {
		return rep
	}
	now := q.now()
	if t.deadline.Before(now) {
		return req.fail("RequestConflict", fmt.Sprintf("Task `%s` can't be canceled past its deadline of %s.", taskID, t.def.Deadline))
	}
	q.resolveLastRun(t, "canceled", now)
	if last := t.lastRun(); last.state == stateException && last.reasonResolved == "canceled" {
		req.msgs = append(req.msgs, newMessage("task-exception", t, len(t.runs)-1, last.workerGroup, last.workerID, false))
	}
	return okReply(map[string]any{"status": t.status()})
}

// resolveLastRun is the cancel_task DB function: a pending or running last
// run becomes exception with reason; anything else is left alone. The caller
// holds q.mu.
func (q *Queue) resolveLastRun(t *task, reason string, now time.Time) bool {
	last := t.lastRun()
	if last == nil || !last.active() {
		return false
	}
	last.state = stateException
	last.reasonResolved = reason
	last.resolved = now
	delete(q.active, t.id)
	return true
}
