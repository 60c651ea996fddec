package tcfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// SnapshotVersion is the format version Snapshot writes and Restore reads.
const SnapshotVersion = 1

// Snapshot is the queue's durable state: every task with its definition,
// runs and artifacts, the task groups and the quarantined workers. It is
// plain JSON, so a process that keeps the stand-in across restarts (the
// demo) can save it and give it back to Restore, the way the real queue
// keeps its state in its database.
//
// Left out, as they do not outlive a real queue process either or are test
// records: the API call log, injected faults, and the secret that signs the
// temporary credentials handed out with claims (those stop working after a
// restore; the bridge never uses them, it acts with its own credentials).
type Snapshot struct {
	Version int            `json:"version"`
	Tasks   []SnapshotTask `json:"tasks"`
	// Groups maps a taskGroupId to the schedulerId its tasks share.
	Groups map[string]string `json:"groups,omitempty"`
	// Quarantined lists "workerGroup/workerId" of quarantined workers.
	Quarantined []string `json:"quarantined,omitempty"`
}

// SnapshotTask is one task in a Snapshot.
type SnapshotTask struct {
	TaskID string `json:"taskId"`
	// Definition is the task definition as the queue stored it (defaults
	// filled in); a repeated createTask must match it byte for byte.
	Definition  json.RawMessage    `json:"definition"`
	Deadline    time.Time          `json:"deadline"`
	Expires     time.Time          `json:"expires"`
	RetriesLeft int                `json:"retriesLeft"`
	Runs        []SnapshotRun      `json:"runs"`
	Artifacts   []SnapshotArtifact `json:"artifacts,omitempty"`
}

// SnapshotRun is one run of a task; zero times are unset.
type SnapshotRun struct {
	State          string    `json:"state"`
	ReasonCreated  string    `json:"reasonCreated"`
	ReasonResolved string    `json:"reasonResolved,omitempty"`
	WorkerGroup    string    `json:"workerGroup,omitempty"`
	WorkerID       string    `json:"workerId,omitempty"`
	Scheduled      time.Time `json:"scheduled"`
	Started        time.Time `json:"started"`
	Resolved       time.Time `json:"resolved"`
	TakenUntil     time.Time `json:"takenUntil"`
}

// SnapshotArtifact is one artifact of one run, with its uploaded data.
type SnapshotArtifact struct {
	RunID        int       `json:"runId"`
	Name         string    `json:"name"`
	StorageType  string    `json:"storageType"`
	ContentType  string    `json:"contentType"`
	Expires      time.Time `json:"expires"`
	URL          string    `json:"url,omitempty"`
	LinkTarget   string    `json:"linkTarget,omitempty"`
	ErrorReason  string    `json:"errorReason,omitempty"`
	ErrorMessage string    `json:"errorMessage,omitempty"`
	Uploaded     bool      `json:"uploaded,omitempty"`
	Body         []byte    `json:"body,omitempty"`
	BodyType     string    `json:"bodyType,omitempty"`
}

// validRunStates are the states a run can be in.
var validRunStates = map[string]bool{
	statePending: true, stateRunning: true, stateCompleted: true, stateFailed: true, stateException: true,
}

// Snapshot returns a copy of the queue's state, consistent at one instant.
// It may be called while the queue serves.
func (q *Queue) Snapshot() Snapshot {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Snapshot{Version: SnapshotVersion, Tasks: make([]SnapshotTask, 0, len(q.tasks))}
	for _, t := range q.tasks {
		st := SnapshotTask{
			TaskID:      t.id,
			Definition:  append(json.RawMessage(nil), t.canonical...),
			Deadline:    t.deadline,
			Expires:     t.expires,
			RetriesLeft: t.retriesLeft,
			Runs:        make([]SnapshotRun, 0, len(t.runs)),
		}
		for _, r := range t.runs {
			st.Runs = append(st.Runs, SnapshotRun{
				State:          r.state,
				ReasonCreated:  r.reasonCreated,
				ReasonResolved: r.reasonResolved,
				WorkerGroup:    r.workerGroup,
				WorkerID:       r.workerID,
				Scheduled:      r.scheduled,
				Started:        r.started,
				Resolved:       r.resolved,
				TakenUntil:     r.takenUntil,
			})
		}
		runIDs := make([]int, 0, len(t.artifacts))
		for runID := range t.artifacts {
			runIDs = append(runIDs, runID)
		}
		sort.Ints(runIDs)
		for _, runID := range runIDs {
			for _, a := range sortedArtifacts(t.artifacts[runID]) {
				st.Artifacts = append(st.Artifacts, SnapshotArtifact{
					RunID:        runID,
					Name:         a.name,
					StorageType:  a.storageType,
					ContentType:  a.contentType,
					Expires:      a.expires,
					URL:          a.url,
					LinkTarget:   a.linkTarget,
					ErrorReason:  a.errReason,
					ErrorMessage: a.errMessage,
					Uploaded:     a.uploaded,
					Body:         append([]byte(nil), a.body...),
					BodyType:     a.bodyType,
				})
			}
		}
		s.Tasks = append(s.Tasks, st)
	}
	// A stable order makes saved snapshots diffable.
	sort.Slice(s.Tasks, func(i, j int) bool { return s.Tasks[i].TaskID < s.Tasks[j].TaskID })
	if len(q.groups) > 0 {
		s.Groups = make(map[string]string, len(q.groups))
		for g, sched := range q.groups {
			s.Groups[g] = sched
		}
	}
	for w := range q.quarantined {
		s.Quarantined = append(s.Quarantined, w)
	}
	sort.Strings(s.Quarantined)
	return s
}

// Restore loads a Snapshot into a queue that holds no tasks yet, before or
// after Start. Runs left pending or running come back active: claims whose
// takenUntil passed while the queue was down expire at the next resolver
// pass, as they would have. A snapshot that is not consistent is refused
// whole and the queue is left empty.
func (q *Queue) Restore(s Snapshot) error {
	if s.Version != SnapshotVersion {
		return fmt.Errorf("tcfake: snapshot version %d, this queue reads version %d", s.Version, SnapshotVersion)
	}
	tasks := make(map[string]*task, len(s.Tasks))
	for _, st := range s.Tasks {
		t, err := restoreTask(st)
		if err != nil {
			return err
		}
		if tasks[t.id] != nil {
			return fmt.Errorf("tcfake: snapshot lists task %s twice", t.id)
		}
		tasks[t.id] = t
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.tasks) > 0 {
		return errors.New("tcfake: Restore needs a queue without tasks")
	}
	for id, t := range tasks {
		q.tasks[id] = t
		if r := t.lastRun(); r != nil && r.active() {
			q.active[id] = t
		}
	}
	for g, sched := range s.Groups {
		q.groups[g] = sched
	}
	for _, w := range s.Quarantined {
		q.quarantined[w] = true
	}
	return nil
}

func restoreTask(st SnapshotTask) (*task, error) {
	if !slugIDPattern.MatchString(st.TaskID) {
		return nil, fmt.Errorf("tcfake: snapshot task id %q is not a slugid", st.TaskID)
	}
	var def taskDef
	if err := json.Unmarshal(st.Definition, &def); err != nil {
		return nil, fmt.Errorf("tcfake: snapshot task %s: definition: %w", st.TaskID, err)
	}
	if len(st.Runs) > maxRuns {
		return nil, fmt.Errorf("tcfake: snapshot task %s has %d runs, more than %d", st.TaskID, len(st.Runs), maxRuns)
	}
	t := &task{
		id:          st.TaskID,
		def:         def,
		canonical:   append([]byte(nil), st.Definition...),
		deadline:    st.Deadline,
		expires:     st.Expires,
		retriesLeft: st.RetriesLeft,
		artifacts:   map[int]map[string]*artifact{},
	}
	for i, sr := range st.Runs {
		if !validRunStates[sr.State] {
			return nil, fmt.Errorf("tcfake: snapshot task %s run %d: unknown state %q", st.TaskID, i, sr.State)
		}
		// Only the last run may still be pending or running.
		if i < len(st.Runs)-1 && (sr.State == statePending || sr.State == stateRunning) {
			return nil, fmt.Errorf("tcfake: snapshot task %s run %d is %s but is not the last run", st.TaskID, i, sr.State)
		}
		t.runs = append(t.runs, &run{
			state:          sr.State,
			reasonCreated:  sr.ReasonCreated,
			reasonResolved: sr.ReasonResolved,
			workerGroup:    sr.WorkerGroup,
			workerID:       sr.WorkerID,
			scheduled:      sr.Scheduled,
			started:        sr.Started,
			resolved:       sr.Resolved,
			takenUntil:     sr.TakenUntil,
		})
	}
	for _, sa := range st.Artifacts {
		if sa.RunID < 0 || sa.RunID >= len(t.runs) {
			return nil, fmt.Errorf("tcfake: snapshot task %s: artifact %q belongs to run %d, which does not exist", st.TaskID, sa.Name, sa.RunID)
		}
		if t.artifacts[sa.RunID] == nil {
			t.artifacts[sa.RunID] = map[string]*artifact{}
		}
		t.artifacts[sa.RunID][sa.Name] = &artifact{
			name:        sa.Name,
			storageType: sa.StorageType,
			contentType: sa.ContentType,
			expires:     sa.Expires,
			url:         sa.URL,
			linkTarget:  sa.LinkTarget,
			errReason:   sa.ErrorReason,
			errMessage:  sa.ErrorMessage,
			uploaded:    sa.Uploaded,
			body:        append([]byte(nil), sa.Body...),
			bodyType:    sa.BodyType,
		}
	}
	return t, nil
}
