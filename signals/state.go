package signals

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// TaskState is the answer to the "state" query: where the task is now.
type TaskState struct {
	TaskID         string    `json:"taskId"`
	Phase          string    `json:"phase"`
	RunID          int       `json:"runId"`
	BuildRequestID int64     `json:"buildRequestId,omitempty"`
	BuilderName    string    `json:"builderName,omitempty"`
	TakenUntil     time.Time `json:"takenUntil,omitempty"`
	// LastEvents are the most recent events the workflow handled, newest
	// last, as short human-readable lines.
	LastEvents []string `json:"lastEvents"`
}

// Phases of a task workflow, as shown by the state query and the TaskState
// search attribute.
const (
	PhaseValidating = "validating"
	PhasePending    = "pending"    // BuildRequest injected, waiting for a build
	PhaseRunning    = "running"    // TC run claimed, build running
	PhaseCancelling = "cancelling" // TC run over, waiting for Buildbot's CANCELLED finish
	PhaseResolved   = "resolved"
	PhaseIgnored    = "ignored"
	// PhaseCancelled ends a task an operator cancelled (the cancel signal,
	// the Web UI's Request Cancellation, `temporal workflow cancel`), so
	// the Web UI's list tells it apart from one Buildbot or TC resolved.
	PhaseCancelled = "cancelled"
)

// Search attributes, upserted as the task moves, so the Web UI's filter finds
// a task by any of them. The worker registers them before it polls.
var (
	AttrTaskID         = temporal.NewSearchAttributeKeyKeyword("TaskId")
	AttrBuilderName    = temporal.NewSearchAttributeKeyKeyword("BuilderName")
	AttrBuildRequestID = temporal.NewSearchAttributeKeyInt64("BuildRequestId")
	AttrTaskState      = temporal.NewSearchAttributeKeyKeyword("TaskState")
)
