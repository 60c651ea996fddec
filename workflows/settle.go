package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// settle lets the workflow task that ran this run's last activities
// complete before the run ends (completes or continues as new).
//
// Local activity results enter history only when their workflow task
// completes, and the server refuses a task that ends the run if a signal
// arrived while it ran. That happens on every EXCEPTION result: TC answers
// our reportException with a task-exception message, which the starter
// signals at once. The refused task is replayed from the last recorded
// event, so its activities run again: a second reportException, a second
// task-exception message on Pulse for every other consumer, and possibly a
// third round. A timer makes the task end with commands that do not close
// the run, which the server always accepts; the run then ends in a task of
// its own, whose retry (if a signal races it too) repeats no activity.
//
// Tried and dropped: skipping the timer for runs resolved completed or
// failed (TC answers those with nothing the bridge consumes) saved a
// workflow task and five events per task, but any Buildbot event racing
// the end — a started event arriving after log_uploaded, common on Pulse —
// made the replay claim and report again (e2e TestStartedEventLostOrLate).
func (t *task) settle(ctx workflow.Context) error {
	return workflow.Sleep(ctx, settleDelay)
}

// settleDelay is how long after its last decision a run ends.
const settleDelay = time.Millisecond

// dropLateSignals reads the signals still in the task's channels once its
// lifecycle has ended, and says in one line what they were.
//
// They are expected, not a fault: TC answers the bridge's own
// reportException or cancelTask with a task-exception message, and Pulse
// delivers events late and more than once, so some arrive while the run
// settles. Left in their channels they made the SDK warn "Workflow has
// unhandled signals" at the end of such tasks, which reads as a bug in the
// bridge; filtering that warning out of the logger instead would also hide
// it where it is news. Only the task's own channels are read, so a signal
// under a name the workflow does not know (an operator's typo) still gets
// the SDK's warning. Reading a channel makes no command: history and replay
// are unchanged, which is why this needs no workflow.GetVersion.
func (t *task) dropLateSignals() {
	var late []string
	for _, in := range t.inbound {
		for {
			ev, ok := take(in)
			if !ok {
				break
			}
			late = append(late, ev.String())
		}
	}
	if len(late) == 0 {
		return
	}
	noun := "signals"
	if len(late) == 1 {
		noun = "signal"
	}
	t.logger.Info(fmt.Sprintf("task workflow ended with %d %s it did not need: %s", len(late), noun, strings.Join(late, "; ")),
		"Phase", t.s.Phase, "RunId", t.s.RunID, "BuildRequestId", t.s.BuildRequestID)
}
