package workflows

import (
	"fmt"
	"time"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// ResumeState is everything a task workflow knows about its task: the
// workflow is the bridge's record of the task. It is the workflow's second
// argument after ContinueAsNew (nil on a fresh start), the source of the
// state query, and it holds no secret (history is public to Web UI users).
type ResumeState struct {
	Phase string `json:"phase"`
	// RunID is the TC run the task is carried for: the latest run we know of.
	RunID          int    `json:"runId"`
	BuildRequestID int64  `json:"buildRequestId,omitempty"`
	BuilderName    string `json:"builderName,omitempty"`
	TaskName       string `json:"taskName,omitempty"`
	Branch         string `json:"branch,omitempty"`
	Revision       string `json:"revision,omitempty"`
	// Expires is the task's expiry: its artifacts expire with it.
	Expires time.Time `json:"expires"`
	// Deadline is the task's deadline, after which TC ends it.
	Deadline time.Time `json:"deadline"`

	// Claimed is set while we hold TC's claim on RunID and must reclaim it.
	Claimed    bool      `json:"claimed,omitempty"`
	TakenUntil time.Time `json:"takenUntil"`
	// ClaimRepliedAt is when the last claim or reclaim reply arrived; with
	// TakenUntil it gives the claim period the reclaim time is derived from.
	ClaimRepliedAt time.Time `json:"claimRepliedAt"`
	// TCClockAhead is how far the queue's clock is ahead of ours, as last
	// measured (queue_clock.go).
	TCClockAhead time.Duration `json:"tcClockAhead,omitempty"`

	// BuildRunning: a build of the BuildRequest started and has not finished.
	BuildRunning bool `json:"buildRunning,omitempty"`
	// Build is the last build that started for the BuildRequest; nil
	// before one did or when its event had no master.
	Build *BuildRef `json:"build,omitempty"`
	// RetriedBuilds are builds taken as retried because the request was
	// built again before their finished event came (rebuilt): that event,
	// arriving late, is not the current build's.
	RetriedBuilds []string `json:"retriedBuilds,omitempty"`
	// PollRunning: the BuildRequest is read every CheckInterval while its
	// build runs too (InjectResult.PollRunning: modern Buildbot).
	PollRunning bool `json:"pollRunning,omitempty"`
	// RequestComplete: the BuildRequest is complete in Buildbot, so a newer
	// TC run needs a new one.
	RequestComplete bool `json:"requestComplete,omitempty"`
	// RunOver: TC resolved RunID without a resolution call from us (a
	// cancel, a deadline, or another bridge reporting it).
	RunOver bool `json:"runOver,omitempty"`
	// Stalled: the build ended with a result that maps to no TC action
	// (SKIPPED, unknown); the claim is kept until TC ends the run.
	Stalled bool `json:"stalled,omitempty"`
	// CancelledByOperator: an operator cancelled the task (signal or cancel
	// request); its lifecycle ends in PhaseCancelled.
	CancelledByOperator bool `json:"cancelledByOperator,omitempty"`
	// EndedBecause says why the run ended before its build did (TC's
	// reason, or an operator's cancel): the build-result document of the
	// CANCELLED finish that follows cannot name a call of its own.
	EndedBecause string `json:"endedBecause,omitempty"`

	// RowCompleteSince is when the safety net found the BuildRequest row
	// complete with RowResults while no finished event had arrived.
	RowCompleteSince time.Time `json:"rowCompleteSince"`
	RowResults       *int      `json:"rowResults,omitempty"`
	// NextCheck is when the BuildRequest row is next read while no build
	// has started (or while it runs, with PollRunning).
	NextCheck time.Time `json:"nextCheck"`
	// WaitUntil is when to stop waiting for a finished event that will
	// change nothing in TC (after a cancel of a running build, or a run
	// resolved by someone else).
	WaitUntil time.Time `json:"waitUntil"`

	// Seen holds the ids of the most recent events, oldest first, so a
	// repeated Pulse delivery is dropped.
	Seen []string `json:"seen"`
	// LastEvents are short lines for the state query, newest last.
	LastEvents []string `json:"lastEvents"`
	// Inbox holds signals received but not yet handled: the ones drained
	// before ContinueAsNew are handled first by the next run.
	Inbox []Event `json:"inbox,omitempty"`
	// MemoShown is what was last written to the workflow's memo.
	MemoShown Memo `json:"memoShown"`
}

// BuildRef names a build: its master and its number there.
type BuildRef struct {
	Master string `json:"master"`
	Number int    `json:"number"`
}

// Memo is what the Web UI shows of a task besides its search attributes.
type Memo struct {
	TaskName    string `json:"taskName,omitempty"`
	BuilderName string `json:"builderName,omitempty"`
	Branch      string `json:"branch,omitempty"`
	Revision    string `json:"revision,omitempty"`
}

// Event is one received signal; exactly one field is set.
type Event struct {
	Pending   *signals.TaskPending           `json:"pending,omitempty"`
	Exception *signals.TaskException         `json:"exception,omitempty"`
	Started   *signals.BuildStarted          `json:"started,omitempty"`
	Finished  *signals.BuildFinished         `json:"finished,omitempty"`
	Cancelled *signals.BuildRequestCancelled `json:"cancelled,omitempty"`
	Cancel    *signals.Cancel                `json:"cancel,omitempty"`
}

// id is the event's content-derived id; operator cancels have none.
func (e Event) id() string {
	switch {
	case e.Pending != nil:
		return e.Pending.EventID
	case e.Exception != nil:
		return e.Exception.EventID
	case e.Started != nil:
		return e.Started.EventID
	case e.Finished != nil:
		return e.Finished.EventID
	case e.Cancelled != nil:
		return e.Cancelled.EventID
	}
	return ""
}

// String is the event as a line of the state query.
func (e Event) String() string {
	switch {
	case e.Pending != nil:
		return fmt.Sprintf("task-pending run %d", e.Pending.RunID)
	case e.Exception != nil:
		return fmt.Sprintf("task-exception run %d reason %q", e.Exception.RunID, e.Exception.Reason)
	case e.Started != nil:
		return fmt.Sprintf("build-started %s/%d for BuildRequest %d", e.Started.Master, e.Started.BuildNumber, e.Started.BuildRequestID)
	case e.Finished != nil:
		return fmt.Sprintf("build-finished %s/%d for BuildRequest %d: %s", e.Finished.Master, e.Finished.BuildNumber,
			e.Finished.BuildRequestID, resultName(e.Finished.Results))
	case e.Cancelled != nil:
		return fmt.Sprintf("buildrequest-cancelled BuildRequest %d", e.Cancelled.BuildRequestID)
	case e.Cancel != nil:
		return fmt.Sprintf("operator cancel %q", e.Cancel.Reason)
	}
	return "empty event"
}

// Bounds of the lists carried across ContinueAsNew. Pulse redelivers within
// minutes, so a few hundred ids cover any realistic duplicate.
const (
	seenLimit       = 512
	lastEventsLimit = 20
	// maxRetriedBuilds bounds RetriedBuilds: a finished event later than
	// that many rebuilds is not expected.
	maxRetriedBuilds = 8
)

// firstSighting records id and reports whether it is new. Events without an
// id (operator cancels) are always new.
func (s *ResumeState) firstSighting(id string) bool {
	if id == "" {
		return true
	}
	for _, seen := range s.Seen {
		if seen == id {
			return false
		}
	}
	s.Seen = keepLast(s.Seen, id, seenLimit)
	return true
}

// alreadyKnown reports whether an event with this id was handled or is
// waiting in the inbox. Dropping such repeats on arrival keeps the inbox,
// which ContinueAsNew carries in its input, small when Pulse redelivers a
// message thousands of times.
func (s *ResumeState) alreadyKnown(id string) bool {
	if id == "" {
		return false
	}
	for _, seen := range s.Seen {
		if seen == id {
			return true
		}
	}
	for _, ev := range s.Inbox {
		if ev.id() == id {
			return true
		}
	}
	return false
}

func (s *ResumeState) addLastEvent(line string) {
	s.LastEvents = keepLast(s.LastEvents, line, lastEventsLimit)
}

// keepLast appends item to list and keeps its last n entries, in a new
// array once it is cut, so that the old entries can be freed.
func keepLast(list []string, item string, n int) []string {
	list = append(list, item)
	if len(list) > n {
		list = append([]string(nil), list[len(list)-n:]...)
	}
	return list
}

// taskState is the answer to the state query.
func (s *ResumeState) taskState(taskID string) signals.TaskState {
	st := signals.TaskState{
		TaskID:         taskID,
		Phase:          s.Phase,
		RunID:          s.RunID,
		BuildRequestID: s.BuildRequestID,
		BuilderName:    s.BuilderName,
		LastEvents:     append([]string{}, s.LastEvents...),
	}
	if s.Claimed {
		st.TakenUntil = s.TakenUntil
	}
	return st
}

// timingOrDefault fills the knobs a starter left unset with DESIGN §5's
// defaults, so a zero Timing never makes a timer fire in a tight loop.
func timingOrDefault(t signals.Timing) signals.Timing {
	d := signals.DefaultTiming
	if t.ReclaimLead > 0 {
		d.ReclaimLead = t.ReclaimLead
	}
	if t.FinishedGrace > 0 {
		d.FinishedGrace = t.FinishedGrace
	}
	if t.CheckInterval > 0 {
		d.CheckInterval = t.CheckInterval
	}
	return d
}
