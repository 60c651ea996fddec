package signals

import (
	"encoding/json"
	"time"
)

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
// Its JSON form is timingJSON's.
type Timing struct {
	// ReclaimLead is reclaim.lead_seconds: reclaim when takenUntil is
	// min(ReclaimLead, claim period / 3) away.
	ReclaimLead time.Duration
	// FinishedGrace is finished_grace_seconds: how long a BuildRequest may
	// sit complete with no finished event before the task is resolved from
	// the row, and how long to wait for Buildbot's CANCELLED finish.
	FinishedGrace time.Duration
	// CheckInterval is reflector.interval: how often a task whose build has
	// not started looks at its BuildRequest row, and the sweep's period.
	CheckInterval time.Duration
}

// timingJSON is Timing as a workflow's input carries it, with durations the
// Web UI shows as "5m0s" (see Duration). Timing itself keeps time.Duration
// fields so that code computing with them needs no conversions.
type timingJSON struct {
	ReclaimLead   Duration `json:"reclaimLead"`
	FinishedGrace Duration `json:"finishedGrace"`
	CheckInterval Duration `json:"checkInterval"`
}

// MarshalJSON writes the durations as Go duration strings.
func (t Timing) MarshalJSON() ([]byte, error) {
	return json.Marshal(timingJSON{
		ReclaimLead:   Duration(t.ReclaimLead),
		FinishedGrace: Duration(t.FinishedGrace),
		CheckInterval: Duration(t.CheckInterval),
	})
}

// UnmarshalJSON reads duration strings, and the numbers of nanoseconds that
// workflows started by an earlier bridge carry.
func (t *Timing) UnmarshalJSON(b []byte) error {
	j := timingJSON{
		ReclaimLead:   Duration(t.ReclaimLead),
		FinishedGrace: Duration(t.FinishedGrace),
		CheckInterval: Duration(t.CheckInterval),
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = Timing{
		ReclaimLead:   time.Duration(j.ReclaimLead),
		FinishedGrace: time.Duration(j.FinishedGrace),
		CheckInterval: time.Duration(j.CheckInterval),
	}
	return nil
}

// DefaultTiming is DESIGN §5's defaults.
var DefaultTiming = Timing{
	ReclaimLead:   300 * time.Second,
	FinishedGrace: 600 * time.Second,
	CheckInterval: 60 * time.Second,
}
