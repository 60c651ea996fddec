// Package starter turns the events the bridge receives into signals to task
// workflows: Taskcluster's task-pending (Pulse) starts or wakes a task's
// workflow with SignalWithStart and task-exception signals it; Buildbot
// 0.8's started and log_uploaded events (Pulse) are mapped through the
// scheduler DB to the tasks of every BuildRequest the build served; a
// modern Buildbot's pushes (HTTP) name their task themselves.
//
// A handler returns nil once Temporal has accepted the signal (or answered
// that there is nothing to signal), a pulse.Poison error for a message that
// can never be handled, and any other error to have the message redelivered.
package starter

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// TemporalClient is the part of client.Client the starter uses.
type TemporalClient interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID string, runID string, signalName string, arg any) error
}

// SchedulerDB is the part of *schedulerdb.DB the starter uses.
type SchedulerDB interface {
	// TasksForRequests maps each BuildRequest that is ours to its task;
	// others are left out.
	TasksForRequests(ctx context.Context, brids []int64) (map[int64]string, error)
	// TaskRow reports whether the task has a bbb_tasks row, i.e. whether
	// this bridge (not a previous one) has carried it.
	TaskRow(ctx context.Context, taskID string) (brid int64, runID int, found bool, err error)
}

// Options configures a Router.
type Options struct {
	// TaskQueue is temporal.task_queue, where new task workflows run.
	TaskQueue string
	// Timing goes into every TaskStart (see TimingFromConfig).
	Timing signals.Timing
	// CallTimeout bounds each call to Temporal or the scheduler DB.
	// Default 20 s.
	CallTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Router holds the handlers for the bridge's four queues.
type Router struct {
	tc   TemporalClient
	db   SchedulerDB
	opts Options
	log  *slog.Logger
}

// New returns a Router signalling through tc and mapping BuildRequests
// through db.
// db is nil for a modern Buildbot, whose events arrive as pushes that
// carry their task (PushHandler).
func New(tc TemporalClient, db SchedulerDB, opts Options) (*Router, error) {
	if tc == nil {
		return nil, errors.New("starter: a Temporal client is required")
	}
	if opts.TaskQueue == "" {
		return nil, errors.New("starter: a task queue is required")
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 20 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Router{tc: tc, db: db, opts: opts, log: log}, nil
}

// Subscriptions pairs each of the bridge's bindings with its handler:
// Taskcluster's two, and Buildbot 0.8's two when the router has a
// scheduler DB to map their BuildRequests through.
func (r *Router) Subscriptions(b pulse.BridgeBindings) []pulse.Subscription {
	subs := []pulse.Subscription{
		{Binding: b.TaskPending, Handle: r.HandleTaskPending},
		{Binding: b.TaskException, Handle: r.HandleTaskException},
	}
	if r.db != nil {
		subs = append(subs,
			pulse.Subscription{Binding: b.Started, Handle: r.HandleStarted},
			pulse.Subscription{Binding: b.LogUploaded, Handle: r.HandleLogUploaded})
	}
	return subs
}

func (r *Router) msgLog(m pulse.Message) *slog.Logger {
	return r.log.With("queue", m.Queue, "routing_key", m.RoutingKey)
}
