// Package activities holds everything the bridge's workflows do to the
// outside world: the Taskcluster queue and Buildbot (through the Buildbot
// interface, one implementation per kind of master). Each activity is a
// method of Activities, so a workflow refers to it as a.ClaimRun and the
// Web UI shows that name.
//
// Inputs and results are recorded in workflow history, visible to every
// Web UI user: no secret ever goes in them, nor in an error or a log line.
package activities

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v3"
	"github.com/taskcluster/httpbackoff/v3"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Timeouts of single network calls inside an activity. The workflow's
// StartToClose bounds the whole activity; these keep one hung call from
// using all of it.
const (
	tcCallTimeout    = 30 * time.Second
	uploadTimeout    = 60 * time.Second
	selfServeTimeout = 30 * time.Second
	temporalTimeout  = 15 * time.Second
	tcBackoffElapsed = 20 * time.Second
	sweepBatch       = 500
	adoptBatch       = 100
)

// WorkflowStarter is the part of the Temporal client the sweep uses to hand
// a previous bridge's requests to task workflows (client.Client has it).
type WorkflowStarter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// Deps are what the activities work with.
type Deps struct {
	// Queue is the Taskcluster queue client with the bridge's own
	// credentials; NewQueue builds one with the right retry settings.
	Queue *tcqueue.Queue
	// WorkerGroup and WorkerID are what runs are claimed as
	// (config.ClaimWorkerGroup/ClaimWorkerID).
	WorkerGroup string
	WorkerID    string
	// Buildbot is the Buildbot backend; nil means Buildbot 0.8 over DB
	// and SelfServe.
	Buildbot Buildbot
	// DB is Buildbot 0.8's scheduler DB.
	DB *schedulerdb.DB
	// SelfServe cancels requests and builds in Buildbot 0.8.
	SelfServe *selfserve.Client
	// IgnoredBuilders and RestrictedBuilders are the config's patterns.
	IgnoredBuilders    config.Patterns
	RestrictedBuilders config.Patterns
	// AllowedBuilders is nil when allowed_builders_url is not configured.
	AllowedBuilders *AllowedBuilders
	// Temporal starts adopted task workflows.
	Temporal WorkflowStarter
	// TaskQueue is the Temporal task queue task workflows run on.
	TaskQueue string
	// Timing is given to the task workflows the sweep starts.
	Timing signals.Timing
	// HTTPClient uploads artifacts; nil means a client of its own.
	HTTPClient *http.Client
	// Logger receives the activities' logs; nil means slog.Default().
	Logger *slog.Logger
}

// Activities are the bridge's activities; register them with
// worker.RegisterActivity(acts).
type Activities struct {
	queue       *tcqueue.Queue
	workerGroup string
	workerID    string
	bb          Buildbot
	ignored     config.Patterns
	restricted  config.Patterns
	allowed     *AllowedBuilders
	temporal    WorkflowStarter
	taskQueue   string
	timing      signals.Timing
	http        *http.Client
	log         *slog.Logger
}

// New returns the activities over deps.
func New(deps Deps) *Activities {
	a := &Activities{
		queue:       deps.Queue,
		workerGroup: deps.WorkerGroup,
		workerID:    deps.WorkerID,
		bb:          deps.Buildbot,
		ignored:     deps.IgnoredBuilders,
		restricted:  deps.RestrictedBuilders,
		allowed:     deps.AllowedBuilders,
		temporal:    deps.Temporal,
		taskQueue:   deps.TaskQueue,
		timing:      deps.Timing,
		http:        deps.HTTPClient,
		log:         deps.Logger,
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: uploadTimeout}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.bb == nil {
		a.bb = NewBuildbot08(deps.DB, deps.SelfServe, a.log)
	}
	a.bb = counted(a.bb)
	return a
}

// NewQueue returns a queue client for rootURL with the bridge's permanent
// credentials (none when clientID is empty). The client's own retries of
// network errors and 5xx are cut to about 20 seconds: by default they go on
// for 15 minutes, far beyond an activity's timeout, while the activity
// retry policy already retries with backoff.
func NewQueue(rootURL, clientID, accessToken string) *tcqueue.Queue {
	var creds *tcclient.Credentials
	if clientID != "" {
		creds = &tcclient.Credentials{ClientID: clientID, AccessToken: accessToken}
	}
	q := tcqueue.New(creds, rootURL)
	q.HTTPClient = newCountedHTTP()
	q.HTTPBackoffClient = &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval:     200 * time.Millisecond,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         5 * time.Second,
		MaxElapsedTime:      tcBackoffElapsed,
		Clock:               backoff.SystemClock,
	}}
	return q
}

// tc returns a copy of the queue client whose calls are bounded by ctx and
// a per-call timeout (tcqueue's methods take no context of their own).
func (a *Activities) tc(ctx context.Context) (*tcqueue.Queue, context.CancelFunc) {
	q, _, cancel := a.tcClocked(ctx)
	return q, cancel
}

// tcClocked is tc for a call whose reply carries times of the queue's
// clock: the reader tells how far that clock is from ours.
func (a *Activities) tcClocked(ctx context.Context) (*tcqueue.Queue, *queueClockReader, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, tcCallTimeout)
	q := *a.queue
	q.Context = ctx
	clock := &queueClockReader{next: q.HTTPClient}
	if q.HTTPClient != nil { // nil: the client's own default, left alone; the clock reads as unknown
		q.HTTPClient = clock
	}
	return &q, clock, cancel
}
