package bench

import (
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// Actions are what Temporal Cloud would bill for a workflow's history, by
// its published list of billable Actions: a workflow started (by a client,
// SignalWithStart or ContinueAsNew), each signal, each timer started, each
// UpsertSearchAttributes command (TemporalChangeVersion alone, which
// workflow.GetVersion writes, is exempt), each side effect, each activity
// scheduled, and local activities once per workflow task that ran any.
// Queries are billed too but leave no trace in history: the bridge makes
// none itself (an operator's `state` query, or the Web UI's call-stack
// view, costs one each).
type Actions struct {
	WorkflowStarts    int
	Signals           int
	Timers            int
	Upserts           int
	LocalActivityWTs  int
	Activities        int
	SideEffects       int
	MemoUpdatesUnbill int // workflow property (memo) changes: not on the list
}

// Total is the billable count.
func (a Actions) Total() int {
	return a.WorkflowStarts + a.Signals + a.Timers + a.Upserts + a.LocalActivityWTs + a.Activities + a.SideEffects
}

// Add sums b into a.
func (a *Actions) Add(b Actions) {
	a.WorkflowStarts += b.WorkflowStarts
	a.Signals += b.Signals
	a.Timers += b.Timers
	a.Upserts += b.Upserts
	a.LocalActivityWTs += b.LocalActivityWTs
	a.Activities += b.Activities
	a.SideEffects += b.SideEffects
	a.MemoUpdatesUnbill += b.MemoUpdatesUnbill
}

// actionCounter counts one run's history, event by event.
type actionCounter struct {
	Actions
	laTasks map[int64]bool
}

func (c *actionCounter) add(ev *historypb.HistoryEvent) {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		c.WorkflowStarts++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		c.Signals++
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		c.Timers++
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		c.Activities++
	case enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
		c.MemoUpdatesUnbill++
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		fields := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
		if _, version := fields["TemporalChangeVersion"]; !(version && len(fields) == 1) {
			c.Upserts++
		}
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		m := ev.GetMarkerRecordedEventAttributes()
		switch m.GetMarkerName() {
		case "LocalActivity":
			if c.laTasks == nil {
				c.laTasks = map[int64]bool{}
			}
			if wt := m.GetWorkflowTaskCompletedEventId(); !c.laTasks[wt] {
				c.laTasks[wt] = true
				c.LocalActivityWTs++
			}
		case "SideEffect":
			c.SideEffects++
		}
	}
}

// CountActions counts the billable Actions of one run's events.
func CountActions(events []*historypb.HistoryEvent) Actions {
	var c actionCounter
	for _, ev := range events {
		c.add(ev)
	}
	return c.Actions
}
