package bench

import (
	"encoding/json"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// Actions are what Temporal Cloud would bill for a workflow's history, by
// its published list of billable Actions: a workflow started (by a client,
// SignalWithStart or ContinueAsNew; a SignalWithStart that starts the
// workflow is one Action in all, so its signal is not counted again), each
// other signal, each timer started, each
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

	// Reclaims counts the workflow tasks that renewed the claim
	// (ReclaimRun, with the request read that goes with it) and did
	// nothing else, and ReclaimActions what they cost: the workflow task's
	// local activities, and the timers and upserts it started. Both are
	// part of the counts above, kept apart to price a running build by
	// the hour; a reclaim that shared its workflow task with other work
	// (a build's end arriving at the same moment) is left out of both.
	Reclaims       int
	ReclaimActions int
}

// ActionsTarget is the most Temporal Cloud actions a first-time success may
// cost (issue 16); every benchmark lifecycle is one.
const ActionsTarget = 10

// PerTask is the mean billable count over n workflows.
func (a Actions) PerTask(n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(a.Total()) / float64(n)
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
	a.Reclaims += b.Reclaims
	a.ReclaimActions += b.ReclaimActions
}

// reclaimActivity is the local activity that renews a claim;
// reclaimCompanions run in the same workflow task as part of the reclaim.
const reclaimActivity = "ReclaimRun"

var reclaimCompanions = map[string]bool{reclaimActivity: true, "ReadBuildRequest": true}

// PerReclaim is the mean billable cost of one reclaim.
func (a Actions) PerReclaim() float64 {
	if a.Reclaims == 0 {
		return 0
	}
	return float64(a.ReclaimActions) / float64(a.Reclaims)
}

// actionCounter counts one run's history, event by event.
type actionCounter struct {
	Actions
	// byTask is what each workflow task (by its completed event's id)
	// ran and started: local activities are billed once per workflow
	// task, and the reclaiming ones are priced.
	byTask map[int64]*taskCommands
	// previous is the type of the event added before this one.
	previous enumspb.EventType
}

type taskCommands struct {
	localActivities bool
	reclaim, other  bool
	timers, upserts int
}

func (c *actionCounter) task(completedID int64) *taskCommands {
	if c.byTask == nil {
		c.byTask = map[int64]*taskCommands{}
	}
	t := c.byTask[completedID]
	if t == nil {
		t = &taskCommands{}
		c.byTask[completedID] = t
	}
	return t
}

// done prices the reclaims once every event was added.
func (c *actionCounter) done() Actions {
	for _, t := range c.byTask {
		if t.reclaim && !t.other {
			c.Reclaims++
			c.ReclaimActions += 1 + t.timers + t.upserts
		}
	}
	return c.Actions
}

func (c *actionCounter) add(ev *historypb.HistoryEvent) {
	defer func() { c.previous = ev.GetEventType() }()
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		c.WorkflowStarts++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		// SignalWithStart writes its signal right after the start, before
		// the first workflow task is scheduled; a plain start writes that
		// task's scheduled event there instead.
		if c.previous != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
			c.Signals++
		}
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		c.Timers++
		c.task(ev.GetTimerStartedEventAttributes().GetWorkflowTaskCompletedEventId()).timers++
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		c.Activities++
	case enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
		c.MemoUpdatesUnbill++
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		fields := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
		if _, version := fields["TemporalChangeVersion"]; !(version && len(fields) == 1) {
			c.Upserts++
			c.task(ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetWorkflowTaskCompletedEventId()).upserts++
		}
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		m := ev.GetMarkerRecordedEventAttributes()
		switch m.GetMarkerName() {
		case "LocalActivity":
			t := c.task(m.GetWorkflowTaskCompletedEventId())
			if !t.localActivities {
				t.localActivities = true
				c.LocalActivityWTs++
			}
			switch typ := localActivityType(m); {
			case typ == reclaimActivity:
				t.reclaim = true
			case !reclaimCompanions[typ]:
				t.other = true
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
	return c.done()
}

// localActivityType reads the activity type the SDK records in a local
// activity's marker ("" if the details are not as it writes them).
func localActivityType(m *historypb.MarkerRecordedEventAttributes) string {
	p := m.GetDetails()["data"].GetPayloads()
	if len(p) == 0 {
		return ""
	}
	var d struct{ ActivityType string }
	if json.Unmarshal(p[0].GetData(), &d) != nil {
		return ""
	}
	return d.ActivityType
}
