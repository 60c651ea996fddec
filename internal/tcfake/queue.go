// Package tcfake is a stand-in for the Taskcluster queue service (v44): the
// HTTP API the official Go client (tcqueue) calls, the run state machine with
// claim timeouts and deadlines, Hawk authentication with scopes and temporary
// credentials, S3-style artifact uploads it serves itself, and the real Pulse
// messages published to RabbitMQ. Tests, benchmarks and the demo run the
// bridge against it.
//
// Served: ping, createTask, task, status, rerunTask, cancelTask, claimTask,
// reclaimTask, reportCompleted, reportFailed, reportException, createArtifact
// (s3, reference, link, error), listArtifacts, listLatestArtifacts,
// getArtifact and getLatestArtifact; anything else answers 404
// ResourceNotFound. Where it differs from the real queue: tasks with
// dependencies are refused (400), object artifacts are refused (400), artifact
// lists come in one page, task expiry never deletes anything, and a message
// for a task with routes is published once per routing key instead of once
// with a CC header.
package tcfake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// Defaults, as the real queue is configured.
const (
	DefaultClaimTimeout     = 1200 * time.Second
	DefaultDeadlineDelay    = 60 * time.Second
	DefaultResolverInterval = time.Second
	DefaultExchangePrefix   = "exchange/taskcluster-queue/v1/"
)

// DefaultAnonymousScopes are granted to every caller when Options.Clients is
// set, like a deployment's "anonymous" role: read-only access to tasks,
// statuses, artifact lists and public artifacts.
var DefaultAnonymousScopes = []string{
	"queue:get-task:*",
	"queue:status:*",
	"queue:list-artifacts:*",
	"queue:get-artifact:public/*",
}

// issuerClientID is the identity the stand-in signs claim credentials with,
// named like the real queue's static client.
const issuerClientID = "static/taskcluster/queue"

// Client is one set of permanent credentials the queue accepts.
type Client struct {
	AccessToken string
	Scopes      []string
}

// Options configure a Queue. The zero value is usable.
type Options struct {
	// Addr is the listen address; its host is forced to loopback. Default
	// "127.0.0.1:0".
	Addr string
	// ClaimTimeout is how long a claim or reclaim holds a run. Default 20 min.
	ClaimTimeout time.Duration
	// DeadlineDelay is how long after a task's deadline the deadline resolver
	// acts on it. Default 60 s.
	DeadlineDelay time.Duration
	// Clock supplies "now". Default: real time.
	Clock Clock
	// Publisher, when set, receives the queue's Pulse messages. The queue
	// declares its exchanges on it at Start.
	Publisher *pulse.Publisher
	// ExchangePrefix is prepended to exchange names. Default
	// "exchange/taskcluster-queue/v1/".
	ExchangePrefix string
	// ResolverInterval is how often, in real time, claim expiry and deadlines
	// are checked. Default 1 s.
	ResolverInterval time.Duration
	// Clients, when non-nil, turns on authentication: every request must be
	// Hawk-signed by one of these clients (or by temporary credentials from a
	// claim) and hold the scopes the real queue requires. Nil accepts anything.
	Clients map[string]Client
	// AnonymousScopes are given to every caller when Clients is set; nil means
	// DefaultAnonymousScopes.
	AnonymousScopes []string
	// Logger receives operational messages. Default: slog.Default().
	Logger *slog.Logger
}

// FaultFunc decides, per API method name ("claimTask", "reportCompleted",
// ...), whether to fail a call: status 0 means no fault; otherwise the call
// answers that HTTP status, after applying the call first if afterApply (a
// flaky proxy that loses the reply).
type FaultFunc func(method string) (status int, afterApply bool)

// Call records one API request, for tests.
type Call struct {
	Method string // the API method name: claimTask, reclaimTask, reportCompleted...
	TaskID string
	RunID  int // -1 if the route has no runId
	Status int // the HTTP status answered
	At     time.Time
	Body   []byte // the request body
}

// StoredArtifact is an artifact as the queue holds it, for tests.
type StoredArtifact struct {
	Name        string
	StorageType string
	ContentType string
	Expires     time.Time
	// URL is the target of a reference artifact, or where an s3 artifact's
	// data is served.
	URL string
	// Body is the uploaded data of an s3 artifact (nil until uploaded), and
	// BodyContentType the Content-Type it was uploaded with.
	Body            []byte
	BodyContentType string
	Uploaded        bool
	// Link is the target name of a link artifact.
	Link string
	// ErrorReason and ErrorMessage describe an error artifact.
	ErrorReason, ErrorMessage string
}

// Queue is the stand-in queue service.
type Queue struct {
	opts    Options
	clock   Clock
	log     *slog.Logger
	schemas *SchemaSet
	// issuerToken signs the temporary credentials handed out with claims.
	issuerToken string

	mu          sync.Mutex
	tasks       map[string]*task
	active      map[string]*task  // tasks whose last run is pending or running
	quarantined map[string]bool   // workerGroup/workerId
	groups      map[string]string // taskGroupId -> schedulerId
	calls       []Call
	fault       FaultFunc

	resolverMu sync.Mutex // one resolver pass at a time

	listener net.Listener
	server   *http.Server
	rootURL  string
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   bool
}

// New checks opts and prepares a Queue; Start makes it serve.
func New(opts Options) (*Queue, error) {
	if opts.ClaimTimeout < 0 || opts.DeadlineDelay < 0 || opts.ResolverInterval < 0 {
		return nil, errors.New("tcfake: durations must not be negative")
	}
	if opts.ClaimTimeout == 0 {
		opts.ClaimTimeout = DefaultClaimTimeout
	}
	if opts.DeadlineDelay == 0 {
		opts.DeadlineDelay = DefaultDeadlineDelay
	}
	if opts.ResolverInterval == 0 {
		opts.ResolverInterval = DefaultResolverInterval
	}
	if opts.ExchangePrefix == "" {
		opts.ExchangePrefix = DefaultExchangePrefix
	}
	if opts.Clients != nil && opts.AnonymousScopes == nil {
		opts.AnonymousScopes = DefaultAnonymousScopes
	}
	for id, c := range opts.Clients {
		if id == "" || c.AccessToken == "" {
			return nil, fmt.Errorf("tcfake: client %q needs a clientId and an access token", id)
		}
		if id == issuerClientID {
			return nil, fmt.Errorf("tcfake: client id %q is reserved for the queue itself", id)
		}
	}
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	schemas, err := embeddedSchemaSet()
	if err != nil {
		return nil, err
	}
	token := make([]byte, 33)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("tcfake: random: %w", err)
	}
	return &Queue{
		opts:        opts,
		clock:       clock,
		log:         logger.With("component", "tcfake"),
		schemas:     schemas,
		issuerToken: base64.RawURLEncoding.EncodeToString(token),
		tasks:       map[string]*task{},
		active:      map[string]*task{},
		quarantined: map[string]bool{},
		groups:      map[string]string{},
		stop:        make(chan struct{}),
	}, nil
}

// Start declares the Pulse exchanges (when a Publisher is set), listens on
// loopback and serves until Close. ctx bounds the start-up only.
func (q *Queue) Start(ctx context.Context) error {
	if q.opts.Publisher != nil {
		for _, name := range exchangeNames {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := q.opts.Publisher.DeclareTopicExchange(dctx, q.opts.ExchangePrefix+name)
			cancel()
			if err != nil {
				return fmt.Errorf("tcfake: declare exchange %s: %w", q.opts.ExchangePrefix+name, err)
			}
		}
	}
	addr, err := loopbackAddr(q.opts.Addr)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tcfake: listen: %w", err)
	}
	q.listener = ln
	q.rootURL = "http://" + ln.Addr().String()
	q.server = &http.Server{
		Handler:           q.routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	q.wg.Add(2)
	go func() {
		defer q.wg.Done()
		if err := q.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			q.log.Error("serve", "err", err)
		}
	}()
	go func() {
		defer q.wg.Done()
		q.resolverLoop()
	}()
	q.log.Info("queue stand-in serving", "rootUrl", q.rootURL)
	return nil
}

func loopbackAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("tcfake: bad Addr %q: %w", addr, err)
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// RootURL is the Taskcluster root URL to give tcqueue.New; the API is under
// <RootURL>/api/queue/v1/.
func (q *Queue) RootURL() string { return q.rootURL }

// Close stops serving and the resolver. It does not close the Publisher.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed || q.server == nil {
		q.closed = true
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.server.Shutdown(ctx); err != nil {
		_ = q.server.Close()
	}
	q.wg.Wait()
}

// Quarantine makes claimTask by this worker answer 200 with an empty object,
// as the real queue does for a quarantined worker.
func (q *Queue) Quarantine(workerGroup, workerID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.quarantined[workerGroup+"/"+workerID] = true
}

// SetFault installs (or, with nil, removes) a fault hook.
func (q *Queue) SetFault(f FaultFunc) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fault = f
}

// Calls returns every API call so far, oldest first.
func (q *Queue) Calls() []Call {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Call, len(q.calls))
	copy(out, q.calls)
	return out
}

// Status returns a task's status as the API would report it; times a run
// does not have yet (started, resolved, takenUntil) are zero.
func (q *Queue) Status(taskID string) (tcqueue.TaskStatusStructure, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[taskID]
	if !ok {
		return tcqueue.TaskStatusStructure{}, false
	}
	return toClientStatus(t), true
}

func toClientStatus(t *task) tcqueue.TaskStatusStructure {
	s := tcqueue.TaskStatusStructure{
		TaskID:        t.id,
		ProvisionerID: t.def.ProvisionerID,
		WorkerType:    t.def.WorkerType,
		TaskQueueID:   t.def.TaskQueueID,
		SchedulerID:   t.def.SchedulerID,
		ProjectID:     t.def.ProjectID,
		TaskGroupID:   t.def.TaskGroupID,
		Deadline:      tcclient.Time(t.deadline),
		Expires:       tcclient.Time(t.expires),
		RetriesLeft:   int64(t.retriesLeft),
		State:         t.state(),
		Runs:          make([]tcqueue.RunInformation, 0, len(t.runs)),
	}
	for i, r := range t.runs {
		s.Runs = append(s.Runs, tcqueue.RunInformation{
			RunID:          int64(i),
			State:          r.state,
			ReasonCreated:  r.reasonCreated,
			ReasonResolved: r.reasonResolved,
			WorkerGroup:    r.workerGroup,
			WorkerID:       r.workerID,
			Scheduled:      tcclient.Time(r.scheduled),
			Started:        tcclient.Time(r.started),
			Resolved:       tcclient.Time(r.resolved),
			TakenUntil:     tcclient.Time(r.takenUntil),
		})
	}
	return s
}

// Artifacts returns the artifacts of one run, sorted by name.
func (q *Queue) Artifacts(taskID string, runID int) []StoredArtifact {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[taskID]
	if !ok {
		return nil
	}
	var out []StoredArtifact
	for _, a := range sortedArtifacts(t.artifacts[runID]) {
		sa := StoredArtifact{
			Name:            a.name,
			StorageType:     a.storageType,
			ContentType:     a.contentType,
			Expires:         a.expires,
			URL:             a.url,
			Uploaded:        a.uploaded,
			BodyContentType: a.bodyType,
			Link:            a.linkTarget,
			ErrorReason:     a.errReason,
			ErrorMessage:    a.errMessage,
		}
		if a.storageType == "s3" {
			sa.URL = q.s3URL(taskID, runID, a.name)
		}
		if a.uploaded {
			sa.Body = append([]byte{}, a.body...)
		}
		out = append(out, sa)
	}
	return out
}

func (q *Queue) now() time.Time { return msTime(q.clock.Now()) }
