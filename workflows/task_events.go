package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// inbound is one signal channel of the task workflow.
type inbound struct {
	name string
	ch   workflow.ReceiveChannel
}

// signalChannels are the task's signal channels in a fixed order, so the
// selector and the drain before ContinueAsNew are deterministic.
func signalChannels(ctx workflow.Context) []inbound {
	names := []string{
		signals.TaskPendingName,
		signals.TaskExceptionName,
		signals.BuildStartedName,
		signals.BuildFinishedName,
		signals.BuildRequestCancelledName,
		signals.CancelName,
	}
	in := make([]inbound, len(names))
	for i, n := range names {
		in[i] = inbound{name: n, ch: workflow.GetSignalChannel(ctx, n)}
	}
	return in
}

func (t *task) pendingChannel() workflow.ReceiveChannel { return t.inbound[0].ch }

// loop is the event loop: one event or timer at a time until the task's
// run is resolved (or the history is handed to a new run).
func (t *task) loop(ctx workflow.Context) error {
	for !t.done {
		if err := t.takeCancelRequest(ctx); err != nil {
			return err
		}
		t.settlePhase()
		if !t.takeWaitingEvents(ctx) {
			t.publish(ctx)
		}
		if t.continueAsNewDue(ctx) {
			return t.continueAsNew(ctx)
		}
		if len(t.s.Inbox) > 0 {
			ev := t.s.Inbox[0]
			t.s.Inbox = t.s.Inbox[1:]
			if err := t.handle(ctx, ev); err != nil {
				return err
			}
			continue
		}
		if err := t.waitForEvent(ctx); err != nil {
			return err
		}
	}
	t.publish(ctx)
	return t.settle(ctx)
}

// takeWaitingEvents moves every signal that has reached the workflow into
// the inbox, in the order the event loop would take them one by one (the
// channels' fixed order), and tells whether the loop has events to handle
// before it may publish and set its timer (versionEventsTogether).
func (t *task) takeWaitingEvents(ctx workflow.Context) bool {
	if len(t.s.Inbox) == 0 && !t.signalsWaiting() {
		return false
	}
	if workflow.GetVersion(ctx, versionEventsTogether, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	t.drainSignals()
	return len(t.s.Inbox) > 0
}

// drainSignals moves every signal waiting in the task's channels into the
// inbox, channel by channel in their fixed order.
func (t *task) drainSignals() {
	for _, in := range t.inbound {
		for t.receive(in) {
		}
	}
}

func (t *task) signalsWaiting() bool {
	for _, in := range t.inbound {
		if in.ch.Len() > 0 {
			return true
		}
	}
	return false
}

// handle drops a repeated event and dispatches a new one.
func (t *task) handle(ctx workflow.Context, ev Event) error {
	if !t.s.firstSighting(ev.id()) {
		t.logger.Info("dropped a repeated event", "EventId", ev.id())
		return nil
	}
	t.note(ctx, "%s", ev)
	switch {
	case ev.Pending != nil:
		return t.onPending(ctx, *ev.Pending)
	case ev.Exception != nil:
		return t.onException(ctx, *ev.Exception)
	case ev.Started != nil:
		return t.onStarted(ctx, *ev.Started)
	case ev.Finished != nil:
		return t.onFinished(ctx, *ev.Finished)
	case ev.Cancelled != nil:
		return t.onBuildRequestCancelled(ctx, *ev.Cancelled)
	case ev.Cancel != nil:
		return t.onCancel(ctx, *ev.Cancel)
	}
	return nil
}

// waitForEvent blocks until a signal arrives (it goes to the inbox) or the
// timer fires (its due work is done here).
func (t *task) waitForEvent(ctx workflow.Context) error {
	t.armTimer(ctx)
	sel := workflow.NewSelector(ctx)
	for _, in := range t.inbound {
		sel.AddReceive(in.ch, func(workflow.ReceiveChannel, bool) { t.receive(in) })
	}
	if !t.requestTaken {
		// Wakes the loop, which takes the request at its top.
		sel.AddReceive(t.request.Done(), func(workflow.ReceiveChannel, bool) {})
	}
	fired := false
	if t.timer != nil {
		sel.AddFuture(t.timer, func(workflow.Future) {
			fired = true
			t.timer, t.cancelTimer = nil, nil
		})
	}
	sel.Select(ctx)
	if fired {
		return t.wake(ctx)
	}
	return nil
}

// receive moves one signal, if there is one, from its channel to the inbox.
func (t *task) receive(in inbound) bool {
	ev, ok := take(in)
	if !ok {
		return false
	}
	t.received++
	if !t.s.alreadyKnown(ev.id()) {
		t.s.Inbox = append(t.s.Inbox, ev)
	}
	return true
}

// take reads one signal from its channel without waiting.
func take(in inbound) (Event, bool) {
	var ev Event
	ok := false
	switch in.name {
	case signals.TaskPendingName:
		var v signals.TaskPending
		ok, ev.Pending = in.ch.ReceiveAsync(&v), &v
	case signals.TaskExceptionName:
		var v signals.TaskException
		ok, ev.Exception = in.ch.ReceiveAsync(&v), &v
	case signals.BuildStartedName:
		var v signals.BuildStarted
		ok, ev.Started = in.ch.ReceiveAsync(&v), &v
	case signals.BuildFinishedName:
		var v signals.BuildFinished
		ok, ev.Finished = in.ch.ReceiveAsync(&v), &v
	case signals.BuildRequestCancelledName:
		var v signals.BuildRequestCancelled
		ok, ev.Cancelled = in.ch.ReceiveAsync(&v), &v
	case signals.CancelName:
		var v signals.Cancel
		ok, ev.Cancel = in.ch.ReceiveAsync(&v), &v
	}
	return ev, ok
}

// The timer: one workflow timer at a time, set for the earliest thing that
// is due (reclaim, row check, finished grace, end of a wait), and replaced
// only when that time changes.

func (t *task) nextWakeup() (time.Time, string) {
	var at time.Time
	var why []string
	consider := func(when time.Time, what string) {
		switch {
		case when.IsZero():
		case at.IsZero() || when.Before(at):
			at, why = when, []string{what}
		case when.Equal(at):
			why = append(why, what)
		}
	}
	if t.s.Claimed {
		consider(t.reclaimAt(), "reclaim")
	}
	if t.checking() {
		consider(t.s.NextCheck, "check BuildRequest")
	}
	if !t.s.RowCompleteSince.IsZero() {
		consider(t.s.RowCompleteSince.Add(t.timing.FinishedGrace), "finished grace")
	}
	consider(t.s.WaitUntil, "stop waiting")
	return at, strings.Join(why, ", ")
}

func (t *task) armTimer(ctx workflow.Context) {
	at, why := t.nextWakeup()
	if t.timer != nil && at.Equal(t.timerAt) {
		return
	}
	if t.cancelTimer != nil {
		t.cancelTimer()
		t.timer, t.cancelTimer = nil, nil
	}
	if at.IsZero() {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	// A time already past gives a ready future and no timer in history.
	t.timer = workflow.NewTimerWithOptions(tctx, at.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: why})
	t.timerAt, t.cancelTimer = at, cancel
}

// wake does the most urgent due work; anything else due is picked up on the
// next turn of the loop.
func (t *task) wake(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	due := func(at time.Time) bool { return !at.IsZero() && !now.Before(at) }
	switch {
	case due(t.s.WaitUntil):
		t.note(ctx, "no finished event that would change anything arrived: done")
		t.end(signals.PhaseResolved)
	case t.s.Claimed && due(t.reclaimAt()):
		if err := t.reclaim(ctx); err != nil || !t.watchingRow() || !t.s.Claimed {
			return err
		}
		return t.readRow(ctx)
	case t.rowGraceOver(ctx):
		return t.resolveFromRow(ctx)
	case t.checking() && due(t.s.NextCheck):
		t.s.NextCheck = now.Add(t.timing.CheckInterval)
		return t.readRow(ctx)
	}
	return nil
}
