package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
)

// The queue's times (takenUntil, deadlines) are read on its clock, which
// need not agree with the workers'. Each reply that carries such times says
// how far the queue's clock is ahead (activities.QueueClock); the workflow
// keeps the last measure and converts with it before comparing with its own
// clock. A recorded history without the measure reads as zero, which is
// what the workflow assumed before, so its commands replay unchanged.

// readQueueClock keeps the offset measured on a reply, if it had one.
func (t *task) readQueueClock(c activities.QueueClock) {
	if c.Read {
		t.s.TCClockAhead = c.Ahead
	}
}

// onOurClock is a time of the queue's clock on the workflow's. The offset
// is an upper bound, so a claim's end comes out early, never late.
func (t *task) onOurClock(tcTime time.Time) time.Time {
	if tcTime.IsZero() {
		return tcTime
	}
	return tcTime.Add(-t.s.TCClockAhead)
}

// pastDeadline says whether the queue's clock has passed deadline (a zero
// deadline never passes). Erring early by the offset's bound (about a
// second) is harmless: the queue ends the task itself that much later.
func (t *task) pastDeadline(ctx workflow.Context, deadline time.Time) bool {
	return !deadline.IsZero() && !workflow.Now(ctx).Before(t.onOurClock(deadline))
}
