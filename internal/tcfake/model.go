package tcfake

import (
	"encoding/json"
	"time"
)

// Run states and reasons, as the queue names them.
const (
	statePending     = "pending"
	stateRunning     = "running"
	stateCompleted   = "completed"
	stateFailed      = "failed"
	stateException   = "exception"
	stateUnscheduled = "unscheduled"
)

// maxRuns is the queue's MAX_RUNS_ALLOWED.
const maxRuns = 50

// artifactExceptionGrace is how long after an exception resolution the queue
// still accepts artifacts, so a worker can report exception first and upload
// logs afterwards.
const artifactExceptionGrace = 25 * time.Minute

// formatTime renders t the way JavaScript's Date.toJSON does, which is what
// every timestamp from the queue looks like.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// msTime truncates to the millisecond precision the queue stores.
func msTime(t time.Time) time.Time {
	return t.Truncate(time.Millisecond)
}

type run struct {
	state          string
	reasonCreated  string
	reasonResolved string
	workerGroup    string
	workerID       string
	scheduled      time.Time
	started        time.Time
	resolved       time.Time
	takenUntil     time.Time
}

func (r *run) active() bool { return r.state == statePending || r.state == stateRunning }

// taskDef is a task definition after the queue filled in its defaults; it is
// immutable once created.
type taskDef struct {
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
	Retries       int             `json:"retries"`
	Created       string          `json:"created"`
	Deadline      string          `json:"deadline"`
	Expires       string          `json:"expires"`
	Scopes        []string        `json:"scopes"`
	Payload       json.RawMessage `json:"payload"`
	Metadata      json.RawMessage `json:"metadata"`
	Tags          json.RawMessage `json:"tags"`
	Extra         json.RawMessage `json:"extra"`
}

type task struct {
	id          string
	def         taskDef
	canonical   []byte // the definition as JSON, for the idempotency check
	deadline    time.Time
	expires     time.Time
	retriesLeft int
	runs        []*run
	// artifacts[runId][name]
	artifacts map[int]map[string]*artifact
}

func (t *task) lastRun() *run {
	if len(t.runs) == 0 {
		return nil
	}
	return t.runs[len(t.runs)-1]
}

func (t *task) state() string {
	if r := t.lastRun(); r != nil {
		return r.state
	}
	return stateUnscheduled
}

// runJSON is one entry of status.runs. Optional timestamps are strings so
// that an unset one is left out rather than rendered as year 1.
type runJSON struct {
	RunID          int    `json:"runId"`
	State          string `json:"state"`
	ReasonCreated  string `json:"reasonCreated"`
	ReasonResolved string `json:"reasonResolved,omitempty"`
	WorkerGroup    string `json:"workerGroup,omitempty"`
	WorkerID       string `json:"workerId,omitempty"`
	TakenUntil     string `json:"takenUntil,omitempty"`
	Scheduled      string `json:"scheduled"`
	Started        string `json:"started,omitempty"`
	Resolved       string `json:"resolved,omitempty"`
}

// statusJSON is the task status structure (schemas/queue/v1/task-status.json).
type statusJSON struct {
	TaskID        string    `json:"taskId"`
	ProvisionerID string    `json:"provisionerId"`
	WorkerType    string    `json:"workerType"`
	TaskQueueID   string    `json:"taskQueueId"`
	SchedulerID   string    `json:"schedulerId"`
	ProjectID     string    `json:"projectId"`
	TaskGroupID   string    `json:"taskGroupId"`
	Deadline      string    `json:"deadline"`
	Expires       string    `json:"expires"`
	RetriesLeft   int       `json:"retriesLeft"`
	State         string    `json:"state"`
	Runs          []runJSON `json:"runs"`
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

func (t *task) status() statusJSON {
	s := statusJSON{
		TaskID:        t.id,
		ProvisionerID: t.def.ProvisionerID,
		WorkerType:    t.def.WorkerType,
		TaskQueueID:   t.def.TaskQueueID,
		SchedulerID:   t.def.SchedulerID,
		ProjectID:     t.def.ProjectID,
		TaskGroupID:   t.def.TaskGroupID,
		Deadline:      t.def.Deadline,
		Expires:       t.def.Expires,
		RetriesLeft:   t.retriesLeft,
		State:         t.state(),
		Runs:          make([]runJSON, 0, len(t.runs)),
	}
	for i, r := range t.runs {
		s.Runs = append(s.Runs, runJSON{
			RunID:          i,
			State:          r.state,
			ReasonCreated:  r.reasonCreated,
			ReasonResolved: r.reasonResolved,
			WorkerGroup:    r.workerGroup,
			WorkerID:       r.workerID,
			TakenUntil:     optTime(r.takenUntil),
			Scheduled:      formatTime(r.scheduled),
			Started:        optTime(r.started),
			Resolved:       optTime(r.resolved),
		})
	}
	return s
}

// tagsJSON is the {tags} object some Pulse messages carry as "task".
type tagsJSON struct {
	Tags json.RawMessage `json:"tags"`
}

func (t *task) pulseTask() *tagsJSON {
	return &tagsJSON{Tags: t.def.Tags}
}

type artifact struct {
	name        string
	storageType string
	contentType string
	expires     time.Time
	url         string // reference: the target
	linkTarget  string // link: the artifact it stands for
	errReason   string // error artifacts
	errMessage  string

	uploaded bool // s3: whether the PUT to putUrl arrived
	body     []byte
	bodyType string // Content-Type of the upload
}

// artifactJSON is an artifact as listed (schemas/queue/v1/artifact-response.json).
type artifactJSON struct {
	StorageType string `json:"storageType"`
	Name        string `json:"name"`
	Expires     string `json:"expires"`
	ContentType string `json:"contentType"`
}

func (a *artifact) info() artifactJSON {
	return artifactJSON{
		StorageType: a.storageType,
		Name:        a.name,
		Expires:     formatTime(a.expires),
		ContentType: a.contentType,
	}
}
