package bridge

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
	"github.com/bbbridge/buildbot-bridge/workflows"
)

// stopTimeout is how long Stop waits for running activities (each is one
// short call to TC, the DB or self-serve) before abandoning them to their
// retry policy.
const stopTimeout = 30 * time.Second

// newWorker registers the workflows under the type names everyone starts
// them by, and the activities under their method names.
func newWorker(c client.Client, taskQueue string, acts *activities.Activities) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{WorkerStopTimeout: stopTimeout})
	w.RegisterWorkflowWithOptions(workflows.TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.SweepWorkflow, workflow.RegisterOptions{Name: signals.SweepWorkflowType})
	w.RegisterActivity(acts)
	return w
}
