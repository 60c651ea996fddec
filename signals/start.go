package signals

import "time"

// Workflow type names, used by everyone who starts a workflow by name (the
// starter, the sweep's adoption, operators).
const (
	TaskWorkflowType  = "TaskWorkflow"
	SweepWorkflowType = "SweepWorkflow"
)

// TaskStart is the first argument of the task workflow. The workflow's second
// argument is its own state carried across ContinueAsNew; whoever starts a
// task workflow passes nil there.
type TaskStart struct {
	TaskID string `json:"taskId"`
	// Adopt is set when the task was injected by a previous bridge and the
	// workflow must carry on from its BuildRequest instead of injecting.
	Adopt *Adoption `json:"adopt,omitempty"`
	// Timing comes from the config of the process that starts the workflow
	// and is kept in history, so a replay sees the values the run used.
	Timing Timing `json:"timing"`
}

// Adoption names the BuildRequest of a task injected by a previous bridge.
type Adoption struct {
	BuildRequestID int64 `json:"buildRequestId"`
}

// Timing holds the operator's knobs that shape a task's timers (DESIGN §5).
type Timing struct {
	// ReclaimLead is reclaim.lead_seconds: reclaim when takenUntil is
	// min(ReclaimLead, claim period / 3) away.
	ReclaimLead time.Duration `json:"reclaimLead"`
	// FinishedGrace is finished_grace_seconds: how long a BuildRequest may
	// sit complete with no finished event before the task is resolved from
	// the row, and how long to wait for Buildbot's CANCELLED finish.
	FinishedGrace time.Duration `json:"finishedGrace"`
	// CheckInterval is reflector.interval: how often a task whose build has
	// not started looks at its BuildRequest row, and the sweep's period.
	CheckInterval time.Duration `json:"checkInterval"`
}

// DefaultTiming is DESIGN §5's defaults.
var DefaultTiming = Timing{
	ReclaimLead:   300 * time.Second,
	FinishedGrace: 600 * time.Second,
	CheckInterval: 60 * time.Second,
}
