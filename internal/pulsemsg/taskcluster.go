package pulsemsg

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// maxRunID is the queue schema's maximum runId.
const maxRunID = 1000

// taskIDPattern accepts slugids and anything similar; what matters is that a
// taskId can safely become part of a workflow ID and a log line.
var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// tcMessage is the part of task-pending-message.json and
// task-exception-message.json the bridge reads. Pointers tell a missing field
// from a zero one.
type tcMessage struct {
	Status *struct {
		TaskID *string `json:"taskId"`
		Runs   []struct {
			RunID          *int    `json:"runId"`
			ReasonResolved *string `json:"reasonResolved"`
		} `json:"runs"`
	} `json:"status"`
	RunID *int `json:"runId"`
}

func decodeTC(kind string, body []byte) (tcMessage, string, error) {
	var m tcMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return m, "", fmt.Errorf("pulsemsg: %s: not a valid message: %w", kind, err)
	}
	if m.Status == nil {
		return m, "", fmt.Errorf("pulsemsg: %s: status missing", kind)
	}
	if m.Status.TaskID == nil {
		return m, "", fmt.Errorf("pulsemsg: %s: status.taskId missing", kind)
	}
	taskID := *m.Status.TaskID
	if !taskIDPattern.MatchString(taskID) {
		return m, "", fmt.Errorf("pulsemsg: %s: status.taskId %q is not a taskId", kind, truncate(taskID))
	}
	return m, taskID, nil
}

func checkRunID(kind string, runID, runs int) error {
	if runID < 0 || runID > maxRunID {
		return fmt.Errorf("pulsemsg: %s: runId %d out of range", kind, runID)
	}
	if runID >= runs {
		return fmt.Errorf("pulsemsg: %s: runId %d but status has %d runs", kind, runID, runs)
	}
	return nil
}

// DecodeTaskPending decodes a message of
// exchange/taskcluster-queue/v1/task-pending into the task-pending signal:
// status.taskId and the top-level runId (required by the schema), which must
// name one of status.runs.
func DecodeTaskPending(body []byte) (signals.TaskPending, error) {
	const kind = "task-pending"
	m, taskID, err := decodeTC(kind, body)
	if err != nil {
		return signals.TaskPending{}, err
	}
	if m.RunID == nil {
		return signals.TaskPending{}, fmt.Errorf("pulsemsg: %s: runId missing", kind)
	}
	if err := checkRunID(kind, *m.RunID, len(m.Status.Runs)); err != nil {
		return signals.TaskPending{}, err
	}
	return signals.TaskPending{
		EventID: signals.PendingEventID(*m.RunID),
		TaskID:  taskID,
		RunID:   *m.RunID,
	}, nil
}

// DecodeTaskException decodes a message of
// exchange/taskcluster-queue/v1/task-exception into the task-exception
// signal. The reason is status.runs[runId].reasonResolved, empty when the
// run has none. The schema makes runId optional; the queue always means the
// last run, so a message without it is read as that.
func DecodeTaskException(body []byte) (signals.TaskException, error) {
	const kind = "task-exception"
	m, taskID, err := decodeTC(kind, body)
	if err != nil {
		return signals.TaskException{}, err
	}
	runs := m.Status.Runs
	var runID int
	if m.RunID != nil {
		runID = *m.RunID
	} else {
		if len(runs) == 0 {
			return signals.TaskException{}, fmt.Errorf("pulsemsg: %s: no runId and no runs", kind)
		}
		runID = len(runs) - 1
	}
	if err := checkRunID(kind, runID, len(runs)); err != nil {
		return signals.TaskException{}, err
	}
	var reason string
	if r := runs[runID].ReasonResolved; r != nil {
		reason = *r
	}
	return signals.TaskException{
		EventID: signals.ExceptionEventID(runID, reason),
		TaskID:  taskID,
		RunID:   runID,
		Reason:  reason,
	}, nil
}

// truncate keeps error messages about hostile input short.
func truncate(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
