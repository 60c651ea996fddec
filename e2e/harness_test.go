// Package e2e runs the bridge end to end: an embedded Temporal server, real
// MariaDB and RabbitMQ, the stand-in Taskcluster queue and Buildbot masters,
// and the worker and starter wired exactly as their main packages wire them.
// Tests assert what Taskcluster, the scheduler DB and self-serve end up with.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskcluster/slugid-go/slugid"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/bridge"
	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy/embedtemporal"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/rabbitapi"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// The deployment's names in Taskcluster, which the scenarios check runs
// and messages against.
var (
	identity      = localdeploy.NewIdentity("e2e")
	provisionerID = identity.ProvisionerID
	workerType    = identity.WorkerType
	workerGroup   = identity.WorkerGroup
	workerID      = identity.WorkerID
	schedulerID   = identity.SchedulerID
)

// envOptions shape one bridge deployment under test.
type envOptions struct {
	// ClaimTimeout of the stand-in queue (default 20 min, the real one).
	ClaimTimeout time.Duration
	// Script decides each build's outcome (default: SUCCESS after 300 ms).
	Script bbsim.Script
	// Builders the simulated masters serve (default: all).
	Builders []string
	// Config edits the bridge's config.json before it is parsed.
	Config func(map[string]any)
	// Starters is how many starter processes consume Pulse (default 1).
	Starters int
	// NoStarters leaves Pulse unconsumed, for tests that start starters
	// later (e.startStarters) or need messages to go unheard.
	NoStarters bool
	// LogHandler, when set, also receives every log line of the deployment.
	LogHandler slog.Handler
	// NoWorker leaves the worker stopped, for tests that start it later.
	NoWorker bool
	// SQLite uses a SQLite scheduler DB instead of MariaDB.
	SQLite bool
	// Buildbot3, when set, replaces Buildbot 0.8 (scheduler DB, simulator,
	// self-serve, Pulse events) by a real modern Buildbot master and
	// worker, reached through the REST API and its pushes. Its PushURL and
	// push credentials are filled in.
	Buildbot3 *buildbot3.Options
	// BridgeToken is the bridge's access token in the stand-in queue
	// (default: random).
	BridgeToken string
}

// env is one running bridge deployment.
type env struct {
	t        *testing.T
	ctx      context.Context
	dep      *localdeploy.Deployment
	queue    *tcfake.Queue
	sim      *bbsim.Sim
	db       *schedulerdb.DB
	master   *buildbot3.Master    // with Buildbot3; sim and db are nil
	bbAPI    *buildbotrest.Client // reads master's REST API as a user would
	cfg      *config.Config
	temporal client.Client
	tc       *tcqueue.Queue // the scheduler's view of the queue, for creating tasks
	log      *slog.Logger

	mu     sync.Mutex
	worker *process
}

// process is a worker or starter running in this test process.
type process struct{ *localdeploy.InProcess }

// stop ends the process and waits for it; calling it again (the test, then
// the cleanup) is fine.
func (p *process) stop(t *testing.T) {
	if err := p.Stop(30 * time.Second); err != nil {
		t.Errorf("process stopped with: %v", err)
	}
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, log: testLogger(t)}
	if o.LogHandler != nil {
		e.log = slog.New(teeHandler{e.log.Handler(), o.LogHandler})
	}
	claim := o.ClaimTimeout
	if claim == 0 {
		claim = 20 * time.Minute
	}
	var bb08 *localdeploy.Buildbot08
	if o.Buildbot3 == nil {
		bb08 = e.buildbot08(o)
	}
	d, err := localdeploy.Start(ctx, localdeploy.Options{
		Identity: identity,
		// Each env gets its own embedded Temporal server (~1.2 s to
		// start, ~180 MB): the sweep workflow has one fixed ID per
		// namespace, so two deployments sharing a server would share one
		// sweep reading one test's database.
		Temporal: embedtemporal.ForTest(t),
		AMQPURL:  testenv.RabbitURL(t),
		Queue: localdeploy.QueueOptions{
			ClaimTimeout:     claim,
			DeadlineDelay:    time.Second,
			ResolverInterval: 200 * time.Millisecond,
			BridgeToken:      o.BridgeToken,
			SchedulerRetry:   localdeploy.Retry{Initial: 50 * time.Millisecond, Max: time.Second, Elapsed: 5 * time.Second},
		},
		Buildbot08: bb08,
		Log:        e.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e.dep, e.queue, e.sim, e.db = d, d.Queue, d.Sim, d.DB
	e.temporal, e.tc = d.Temporal.Client, d.Scheduler
	if o.Buildbot3 != nil {
		d.Config.Backend = e.startBuildbot3(*o.Buildbot3)
	}

	d.Config.TaskQueue = testenv.UniqueName("bbb-e2e-")
	d.Config.RestrictedBuilders = []string{"^release-"}
	d.Config.IgnoredBuilders = []string{"^ignored-"}
	d.Config.ReflectorInterval = time.Second
	d.Config.ReclaimLead = 300 * time.Second
	d.Config.FinishedGrace = 5 * time.Second
	d.Config.WorkerListen, d.Config.StarterListen = "127.0.0.1:0", "127.0.0.1:0"
	raw := d.Config.Raw()
	if o.Config != nil {
		o.Config(raw)
	}
	if e.cfg, err = localdeploy.ParseConfig(raw, e.log); err != nil {
		t.Fatalf("config: %v", err)
	}

	if !o.NoWorker {
		e.startWorker()
	}
	if !o.NoStarters {
		n := o.Starters
		if n == 0 {
			n = 1
		}
		e.startStarters(n)
	}
	return e
}

// buildbot08 is Buildbot 0.8's stand-ins: a scheduler DB with Buildbot's
// schema and simulated masters with self-serve, publishing their events on
// Pulse.
func (e *env) buildbot08(o envOptions) *localdeploy.Buildbot08 {
	dbURL := ""
	if o.SQLite {
		dbURL = testenv.SQLiteURL(e.t)
	} else {
		dbURL = testenv.MariaDBURL(e.t)
	}
	script := o.Script
	if script == nil {
		script = bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 300 * time.Millisecond})
	}
	return &localdeploy.Buildbot08{SchedulerDB: dbURL, Sim: e.simOptions(script, o.Builders, "bbsim")}
}

// simOptions are the env's simulated masters': quick polls and self-serve.
func (e *env) simOptions(script bbsim.Script, builders []string, component string) bbsim.Options {
	return bbsim.Options{
		PollInterval: 200 * time.Millisecond,
		Script:       script,
		Builders:     builders,
		AgentDelay:   100 * time.Millisecond,
		Logger:       e.log.With("component", component),
	}
}

func (e *env) run(name string, f func(ctx context.Context) error) *process {
	p := &process{localdeploy.RunInProcess(e.ctx, name, f)}
	e.t.Cleanup(func() { p.stop(e.t) })
	return p
}

// startWorker runs the worker as worker/main.go does.
func (e *env) startWorker() *process {
	p := e.run("worker", func(ctx context.Context) error {
		return bridge.RunWorker(ctx, e.cfg, e.log.With("process", "worker"))
	})
	e.mu.Lock()
	e.worker = p
	e.mu.Unlock()
	return p
}

// stopWorker stops the running worker as a deploy or a crash-restart would
// (its context ends, running activities drain); startWorker starts anew.
func (e *env) stopWorker() {
	e.t.Helper()
	e.mu.Lock()
	p := e.worker
	e.mu.Unlock()
	p.stop(e.t)
}

// startStarter runs a starter as starter/main.go does.
func (e *env) startStarter() *process {
	return e.startStarterWith(nil)
}

// startStarterWith runs a starter whose copy of the config edit changed.
func (e *env) startStarterWith(edit func(*config.Config)) *process {
	cfg := *e.cfg
	if edit != nil {
		edit(&cfg)
	}
	return e.run("starter", func(ctx context.Context) error {
		return bridge.RunStarter(ctx, &cfg, e.log.With("process", "starter"))
	})
}

// startStarters starts n starters and waits until each consumes every one
// of the bridge's queues: a task created before that would publish into
// queues that do not exist yet (in production the durable queues outlive
// any one starter).
func (e *env) startStarters(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		if i > 0 && e.cfg.Buildbot != nil {
			// A master pushes to one address; further starters on this
			// host take pushes on a port of their own.
			e.startStarterWith(func(c *config.Config) {
				bb := *c.Buildbot
				bb.EventsListen = "127.0.0.1:0"
				c.Buildbot = &bb
			})
			continue
		}
		e.startStarter()
	}
	e.waitConsumers(n)
}

// waitConsumers waits until n starters consume every one of the bridge's
// queues.
func (e *env) waitConsumers(n int) {
	e.t.Helper()
	b := e.bindings()
	queues := []string{b.TaskPending.Queue, b.TaskException.Queue}
	if e.cfg.Buildbot == nil {
		queues = append(queues, b.Started.Queue, b.LogUploaded.Queue)
	}
	for _, q := range queues {
		testenv.WaitForConsumers(e.t, string(e.cfg.PulseURL), q, n, 30*time.Second)
	}
}

// bindings are the bridge's Pulse queues and bindings under this env's
// config, as the starter derives them.
func (e *env) bindings() pulse.BridgeBindings {
	return starter.BindingsFromConfig(e.cfg)
}

// pulseChannel opens a channel on the env's broker, as another Pulse user
// named name would; closing the connection ends both. The env's end closes
// it too.
func (e *env) pulseChannel(ctx context.Context, name string) (*amqp.Channel, *amqp.Connection) {
	e.t.Helper()
	conn, err := pulse.Dial(ctx, string(e.cfg.PulseURL), name)
	if err != nil {
		e.t.Fatalf("dial Pulse: %v", err)
	}
	e.t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		e.t.Fatal(err)
	}
	return ch, conn
}

// rabbitQueue reads a queue of the env's vhost from RabbitMQ's management
// API into out (its statistics lag a few seconds behind).
func (e *env) rabbitQueue(queue string, out any) error {
	u, err := url.Parse(string(e.cfg.PulseURL))
	if err != nil {
		return err
	}
	vhost, _ := url.PathUnescape(strings.TrimPrefix(u.Path, "/"))
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	return rabbitapi.Call(ctx, localdeploy.DefaultServices().RabbitAPI, http.MethodGet,
		"/queues/"+url.PathEscape(vhost)+"/"+url.PathEscape(queue), "", out)
}

// taskSpec is what a test asks Taskcluster to run.
type taskSpec struct {
	Builder    string
	Properties map[string]any
	Branch     string // sourcestamp branch; "" for no sourcestamp
	Revision   string
	Priority   string
	Scopes     []string
	Deadline   time.Duration // from now; default 1 h
	Retries    int           // default 5
	Payload    json.RawMessage
}

// createTask creates a task for the bridge's provisioner/workerType through
// the official client, as a Taskcluster user would.
func (e *env) createTask(s taskSpec) string {
	e.t.Helper()
	taskID := slugid.Nice()
	props := s.Properties
	if props == nil {
		props = map[string]any{"product": "firefox"}
	}
	var sourcestamp map[string]any
	if s.Branch != "" {
		sourcestamp = map[string]any{"branch": s.Branch}
		if s.Revision != "" {
			sourcestamp["revision"] = s.Revision
		}
	}
	deadline := s.Deadline
	if deadline == 0 {
		deadline = time.Hour
	}
	err := e.dep.CreateTask(taskID, localdeploy.Task{
		Builder: s.Builder, Properties: props, Sourcestamp: sourcestamp, Payload: s.Payload,
		Deadline: deadline,
		Priority: s.Priority,
		Retries:  s.Retries,
		Scopes:   s.Scopes,
		Name:     "e2e " + s.Builder, Description: "end-to-end test task", Source: "https://example.com/e2e",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return taskID
}

// status is the task's status as Taskcluster has it now.
func (e *env) status(taskID string) tcqueue.TaskStatusStructure {
	e.t.Helper()
	st, ok := e.queue.Status(taskID)
	if !ok {
		e.t.Fatalf("task %s unknown to the queue", taskID)
	}
	return st
}

// waitFor polls cond until it holds or timeout passes, then fails with what.
func (e *env) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// waitRunState waits until run runID of the task is in state (and, if
// reason is set, resolved with that reason).
func (e *env) waitRunState(taskID string, runID int, state, reason string, timeout time.Duration) tcqueue.TaskStatusStructure {
	e.t.Helper()
	var st tcqueue.TaskStatusStructure
	e.waitFor(timeout, fmt.Sprintf("task %s run %d %s/%s", taskID, runID, state, reason), func() bool {
		st = e.status(taskID)
		if len(st.Runs) <= runID {
			return false
		}
		r := st.Runs[runID]
		return r.State == state && (reason == "" || r.ReasonResolved == reason)
	})
	return st
}

// waitWorkflowClosed waits until the task's workflow has ended, successfully.
func (e *env) waitWorkflowClosed(taskID string, timeout time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	run := e.temporal.GetWorkflow(ctx, "task-"+taskID, "")
	if err := run.Get(ctx, nil); err != nil {
		e.t.Fatalf("workflow task-%s: %v", taskID, err)
	}
}

// calls returns the queue API calls made for taskID with the given method,
// answered with a 2xx status.
func (e *env) calls(taskID, method string) []tcfake.Call {
	var out []tcfake.Call
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && c.Method == method && c.Status < 300 {
			out = append(out, c)
		}
	}
	return out
}

// allCalls returns the task's queue calls of method whatever they were
// answered: a refused duplicate is still a duplicate.
func (e *env) allCalls(taskID, method string) []tcfake.Call {
	var out []tcfake.Call
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// stateChanging are the queue methods by which a worker changes a task
// (REFERENCE §A); everything else the bridge calls only reads.
var stateChanging = []string{
	"claimTask", "reclaimTask", "reportCompleted", "reportFailed", "reportException",
	"createArtifact", "finishArtifact", "rerunTask", "cancelTask",
}

// changingCalls returns the task's queue calls, answered or not, that
// change the task.
func (e *env) changingCalls(taskID string) []tcfake.Call {
	var out []tcfake.Call
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && slices.Contains(stateChanging, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// exceptionReason is the reason in a reportException call's body.
func exceptionReason(c tcfake.Call) string {
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(c.Body, &body)
	return body.Reason
}

// buildRequests returns the ids of the BuildRequests whose buildset carries
// the task, read with Buildbot's own columns.
func (e *env) buildRequests(taskID string) []int64 {
	e.t.Helper()
	if e.master != nil {
		return e.masterRequestIDs(taskID)
	}
	rows, err := e.db.SQL().QueryContext(e.ctx,
		`SELECT br.id FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		 WHERE bs.external_idstring = ? ORDER BY br.id`, "taskId:"+taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

type testWriter struct {
	t  *testing.T
	mu *sync.Mutex
	on *bool
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if *w.on {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// teeHandler sends each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errA, errB error
	if h.a.Enabled(ctx, r.Level) {
		errA = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		errB = h.b.Handle(ctx, r.Clone())
	}
	return errors.Join(errA, errB)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}

// testLogger sends logs to the test's log (shown on failure or with -v),
// and stops when the test ends so late goroutines cannot panic the run.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("BBB_E2E_QUIET") != "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	on := true
	mu := &sync.Mutex{}
	t.Cleanup(func() { mu.Lock(); on = false; mu.Unlock() })
	return slog.New(slog.NewTextHandler(testWriter{t: t, mu: mu, on: &on}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
