// Package signals is the contract between the starter (Pulse consumers), the
// task and sweep workflows, and operators: workflow IDs, signal names and
// their payloads, the state query and the search attributes. Everything that
// talks to a task workflow uses only this package.
package signals

import (
	"fmt"
	"strings"
	"time"
)

// TaskWorkflowID is the ID of the one workflow that carries taskID. Starting
// it with SignalWithStart under this ID is what keeps duplicate Pulse
// deliveries and concurrent starters from creating a second lifecycle.
func TaskWorkflowID(taskID string) string { return "task-" + taskID }

// TaskIDFromWorkflowID is the inverse of TaskWorkflowID.
func TaskIDFromWorkflowID(id string) (string, bool) {
	return strings.CutPrefix(id, "task-")
}

// SweepWorkflowID is the fixed ID of the single long-lived workflow that finds
// BuildRequests cancelled in Buildbot before they started.
const SweepWorkflowID = "buildbot-bridge-sweep"

// Signal names. Operators use Cancel by hand:
//
//	temporal workflow signal --workflow-id task-<taskId> --name cancel --input '{"reason":"..."}'
const (
	TaskPendingName           = "task-pending"
	TaskExceptionName         = "task-exception"
	BuildStartedName          = "build-started"
	BuildFinishedName         = "build-finished"
	BuildRequestCancelledName = "buildrequest-cancelled"
	CancelName                = "cancel"
)

// QueryState is the name of the query that returns a TaskState.
const QueryState = "state"

// Event ids are derived from the content of a Pulse message, never from its
// delivery, so a redelivered or duplicated message carries the same id and
// the workflow drops it (the server does not de-duplicate signals).

// PendingEventID identifies a task-pending event.
func PendingEventID(runID int) string { return fmt.Sprintf("pending:%d", runID) }

// ExceptionEventID identifies a task-exception event.
func ExceptionEventID(runID int, reason string) string {
	return fmt.Sprintf("exception:%d:%s", runID, reason)
}

// StartedEventID identifies a build-started event for one BuildRequest.
func StartedEventID(brid int64, master string, number int) string {
	return fmt.Sprintf("started:%d:%s:%d", brid, master, number)
}

// FinishedEventID identifies a build-finished (log_uploaded) event for one
// BuildRequest.
func FinishedEventID(brid int64, master string, number int) string {
	return fmt.Sprintf("finished:%d:%s:%d", brid, master, number)
}

// CancelledEventID identifies the sweep's report of a BuildRequest cancelled
// in Buildbot before it started.
func CancelledEventID(brid int64) string { return fmt.Sprintf("brcancelled:%d", brid) }

// TaskPending: Taskcluster made run RunID of the task pending (a new task, a
// retry, or a rerun).
type TaskPending struct {
	EventID string `json:"eventId"`
	TaskID  string `json:"taskId"`
	RunID   int    `json:"runId"`
}

// TaskException: Taskcluster resolved run RunID as exception with Reason
// (status.runs[runId].reasonResolved; empty when the message lacked it).
type TaskException struct {
	EventID string `json:"eventId"`
	TaskID  string `json:"taskId"`
	RunID   int    `json:"runId"`
	Reason  string `json:"reason"`
}

// BuildStarted: a Buildbot build serving BuildRequestID started.
type BuildStarted struct {
	EventID        string `json:"eventId"`
	TaskID         string `json:"taskId"`
	BuildRequestID int64  `json:"buildRequestId"`
	BuilderName    string `json:"builderName"`
	Master         string `json:"master"`
	BuildNumber    int    `json:"buildNumber"`
}

// BuildFinished: the build serving BuildRequestID finished and its log was
// uploaded (Buildbot's log_uploaded event).
type BuildFinished struct {
	EventID        string `json:"eventId"`
	TaskID         string `json:"taskId"`
	BuildRequestID int64  `json:"buildRequestId"`
	BuilderName    string `json:"builderName"`
	Master         string `json:"master"`
	BuildNumber    int    `json:"buildNumber"`
	// Results is Buildbot's result code (see the Result constants).
	Results int `json:"results"`
	// Properties is the build's properties as {name: [value, source]}, the
	// body of the public/properties.json artifact.
	Properties map[string][2]any `json:"properties"`
	// LogURL is the build's log_url property, empty when it had none.
	LogURL string `json:"logUrl,omitempty"`
	// BuildID is modern Buildbot's id of the build (0 from Buildbot 0.8),
	// for the reference artifacts to its page and logs.
	BuildID int64 `json:"buildId,omitempty"`
	// Interrupted, when set, says why Buildbot ended the build without
	// anyone asking (a modern master cancels running builds when it shuts
	// down): the task is not cancelled but runs again on a new request.
	Interrupted string `json:"interrupted,omitempty"`
	// StartedAt and FinishedAt are the build's own times when the event
	// carries them (Buildbot 0.8: payload.build.times; modern Buildbot:
	// started_at, complete_at), zero otherwise, for public/build-result.json.
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// BuildRequestCancelled: the sweep found the task's BuildRequest complete and
// never claimed, i.e. cancelled in Buildbot before it started.
type BuildRequestCancelled struct {
	EventID        string `json:"eventId"`
	BuildRequestID int64  `json:"buildRequestId"`
}

// Cancel is an operator's manual cancel: the task is cancelled in Buildbot
// (request or build) and in Taskcluster.
type Cancel struct {
	Reason string `json:"reason"`
}

// Buildbot 0.8 result codes (CANCELLED is Mozilla's fork).
const (
	ResultSuccess   = 0
	ResultWarnings  = 1
	ResultFailure   = 2
	ResultSkipped   = 3
	ResultException = 4
	ResultRetry     = 5
	ResultCancelled = 6
)
