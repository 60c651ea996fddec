package bridge

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/signals"
	"github.com/bbbridge/buildbot-bridge/workflows"
)

// stopTimeout is how long Stop waits for running activities (each is one
// short call to TC, the DB or self-serve) before abandoning them to their
// retry policy.
const stopTimeout = 30 * time.Second

// WorkerExtras are what a test adds to a worker to stand in for code that
// is not the bridge's: the upgrade test's later release.
type WorkerExtras struct {
	Interceptors []interceptor.WorkerInterceptor
}

// newWorker registers the workflows under the type names everyone starts
// them by, and the activities under their method names.
func newWorker(c client.Client, cfg *config.Config, acts *activities.Activities, deployment worker.DeploymentOptions, extra WorkerExtras) worker.Worker {
	if cfg.Worker.StickyCacheSize > 0 {
		// Process-wide, and read when the first worker starts.
		worker.SetStickyWorkflowCacheSize(cfg.Worker.StickyCacheSize)
	}
	w := worker.New(c, cfg.Temporal.TaskQueue, worker.Options{
		WorkerStopTimeout:                       stopTimeout,
		MaxConcurrentWorkflowTaskPollers:        cfg.Worker.WorkflowTaskPollers,
		MaxConcurrentWorkflowTaskExecutionSize:  cfg.Worker.MaxConcurrentWorkflowTasks,
		MaxConcurrentLocalActivityExecutionSize: cfg.Worker.MaxConcurrentLocalActivities,
		// Every activity runs as a local activity: activity-task pollers
		// would only keep idle long polls open against the server.
		LocalActivityWorkerOnly: true,
		DeploymentOptions:       deployment,
		Interceptors:            extra.Interceptors,
	})
	w.RegisterWorkflowWithOptions(workflows.TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.SweepWorkflow, workflow.RegisterOptions{Name: signals.SweepWorkflowType})
	w.RegisterActivity(acts)
	return w
}
