package e2e

// Helpers for the validation, safety-net, restart, poison-message and
// adoption scenarios (validation_test.go, safety_test.go, restart_test.go,
// poison_test.go, adopt_test.go). Their names start with "g3" so they
// cannot collide with other scenario files of this package.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskcluster/httpbackoff/v3"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
	"go.temporal.io/api/serviceerror"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// g3StateChanging are the queue methods by which a worker changes a task
// (REFERENCE §A); everything else the bridge may call only reads.
var g3StateChanging = map[string]bool{
	"claimTask": true, "reclaimTask": true, "reportCompleted": true, "reportFailed": true,
	"reportException": true, "createArtifact": true, "cancelTask": true, "rerunTask": true,
}

// g3Changes returns the calls that change the task (any answer), other
// than the scheduler's createTask.
func g3Changes(e *env, taskID string) []string {
	var out []string
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && g3StateChanging[c.Method] {
			out = append(out, fmt.Sprintf("%s run %d → %d", c.Method, c.RunID, c.Status))
		}
	}
	return out
}

// g3AllCallsOf returns the task's queue calls of one method, whatever
// they were answered: a refused duplicate is still a duplicate.
func g3AllCallsOf(e *env, taskID, method string) []tcfake.Call {
	var out []tcfake.Call
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// g3ExceptionReason is the reason of a successful reportException call.
func g3ExceptionReason(c tcfake.Call) string {
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(c.Body, &body)
	return body.Reason
}

// g3ExpectMalformed checks what the task's author sees for a payload the
// bridge refused: run 0 claimed by the bridge and resolved
// exception/malformed-payload, no BuildRequest, and the task's workflow over.
func g3ExpectMalformed(e *env, taskID, what string) {
	e.t.Helper()
	st := e.waitRunState(taskID, 0, "exception", "malformed-payload", 30*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	if len(st.Runs) != 1 {
		e.t.Errorf("%s: task has %d runs, want 1: %+v", what, len(st.Runs), st.Runs)
	}
	if r := st.Runs[0]; r.WorkerGroup != workerGroup || r.WorkerID != workerID {
		e.t.Errorf("%s: run 0 claimed by %s/%s, want %s/%s", what, r.WorkerGroup, r.WorkerID, workerGroup, workerID)
	}
	if n := len(e.calls(taskID, "claimTask")); n != 1 {
		e.t.Errorf("%s: %d successful claimTask calls, want 1", what, n)
	}
	exc := e.calls(taskID, "reportException")
	if len(exc) != 1 || g3ExceptionReason(exc[0]) != "malformed-payload" {
		e.t.Errorf("%s: reportException calls %+v, want one with reason malformed-payload", what, exc)
	}
	if ids := e.buildRequests(taskID); len(ids) != 0 {
		e.t.Errorf("%s: BuildRequests %v, want none", what, ids)
	}
}

// g3ExpectCompleted checks a task that ran on Buildbot: run 0 completed,
// exactly one BuildRequest, complete with SUCCESS, and the workflow over.
func g3ExpectCompleted(e *env, taskID, what string) {
	e.t.Helper()
	st := e.waitRunState(taskID, 0, "completed", "completed", 40*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)
	if len(st.Runs) != 1 {
		e.t.Errorf("%s: task has %d runs, want 1: %+v", what, len(st.Runs), st.Runs)
	}
	ids := e.buildRequests(taskID)
	if len(ids) != 1 {
		e.t.Errorf("%s: BuildRequests %v, want exactly one", what, ids)
		return
	}
	var complete, results int
	if err := e.db.SQL().QueryRowContext(e.ctx,
		`SELECT complete, results FROM buildrequests WHERE id = ?`, ids[0]).Scan(&complete, &results); err != nil {
		e.t.Fatal(err)
	}
	if complete != 1 || results != bbsim.SUCCESS {
		e.t.Errorf("%s: BuildRequest %d complete=%d results=%d, want 1 and %d", what, ids[0], complete, results, bbsim.SUCCESS)
	}
}

// g3ExpectIgnored checks that the bridge did nothing at all for the task:
// no call that changes it (it stays pending for another worker), no
// BuildRequest, and the workflow over.
func g3ExpectIgnored(e *env, taskID, what string) {
	e.t.Helper()
	e.waitWorkflowClosed(taskID, 30*time.Second)
	if ch := g3Changes(e, taskID); len(ch) != 0 {
		e.t.Errorf("%s: queue calls that change the task: %v, want none", what, ch)
	}
	st := e.status(taskID)
	if len(st.Runs) != 1 || st.Runs[0].State != "pending" {
		e.t.Errorf("%s: runs %+v, want run 0 still pending", what, st.Runs)
	}
	if ids := e.buildRequests(taskID); len(ids) != 0 {
		e.t.Errorf("%s: BuildRequests %v, want none", what, ids)
	}
}

// g3AllowedBuilders serves an allowed-builders list in the shape
// allowed_builders_url has: {"builders": {"<name>": {...}}}.
func g3AllowedBuilders(t *testing.T, names ...string) string {
	t.Helper()
	doc := map[string]any{}
	for _, n := range names {
		doc[n] = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"builders": doc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/allowed-builders.json"
}

// g3Options are deployment shapes the shared harness does not offer.
type g3Options struct {
	envOptions
	// NoStarters leaves no starter running: Pulse messages published now
	// reach no queue of the bridge, as before the bridge was deployed.
	// Start them with g3StartStarters.
	NoStarters bool
	// Logs, when set, also receives every log line of the deployment.
	Logs *g3LogRecorder
}

// g3NewEnv is newEnv with g3Options. It builds the same deployment, in the
// same order, as newEnv.
func g3NewEnv(t *testing.T, o g3Options) *env {
	t.Helper()
	if !o.NoStarters && o.Logs == nil {
		return newEnv(t, o.envOptions)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, log: testLogger(t)}
	if o.Logs != nil {
		e.log = slog.New(g3Tee{e.log.Handler(), o.Logs.handler()})
	}

	ts := temporalServer()
	e.temporal = ts.GetDefaultClient()

	amqpURL := testenv.RabbitURL(t)
	pub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })

	claim := o.ClaimTimeout
	if claim == 0 {
		claim = 20 * time.Minute
	}
	e.queue, err = tcfake.New(tcfake.Options{
		ClaimTimeout:     claim,
		DeadlineDelay:    time.Second,
		Publisher:        pub,
		ResolverInterval: 200 * time.Millisecond,
		Clients: map[string]tcfake.Client{
			bridgeClient: {AccessToken: bridgeToken, Scopes: []string{
				"queue:claim-task:" + provisionerID + "/" + workerType,
				"queue:worker-id:" + workerGroup + "/" + workerID,
				"queue:cancel-task:" + schedulerID + "/*",
				"queue:rerun-task:" + schedulerID + "/*",
				"queue:reclaim-task:*",
				"queue:resolve-task:*",
				"queue:create-artifact:*",
			}},
			schedClient: {AccessToken: schedToken, Scopes: []string{"*"}},
		},
		Logger: e.log.With("component", "tcfake"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.queue.Close)

	dbURL := testenv.MariaDBURL(t)
	if o.SQLite {
		dbURL = testenv.SQLiteURL(t)
	}
	e.db, err = schedulerdb.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if err := e.db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}

	script := o.Script
	if script == nil {
		script = bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 300 * time.Millisecond})
	}
	e.sim, err = bbsim.New(bbsim.Options{
		DB:           e.db.SQL(),
		Driver:       e.db.Driver(),
		Publisher:    pub,
		PollInterval: 200 * time.Millisecond,
		Script:       script,
		Builders:     o.Builders,
		AgentDelay:   100 * time.Millisecond,
		Logger:       e.log.With("component", "bbsim"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sim.Close)

	raw := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     e.queue.RootURL(),
			"credentials": map[string]any{"clientId": bridgeClient, "accessToken": bridgeToken},
		},
		"buildbot_scheduler_db": dbURL,
		"selfserve_url":         e.sim.SelfServeURL(),
		"pulse_url":             amqpURL,
		"pulse_queue_basename":  "queue/bbb-e2e",
		"tc_worker_group":       workerGroup,
		"tc_worker_id":          workerID,
		"restricted_builders":   []string{"^release-"},
		"ignored_builders":      []string{"^ignored-"},
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             workerType,
			"provisioner_id":          provisionerID,
		},
		"bblistener": map[string]any{"pulse_exchange": "exchange/build"},
		"reflector":  map[string]any{"interval": 1},
		"temporal": map[string]any{
			"address":    ts.GetFrontendHostPort(),
			"namespace":  ts.GetDefaultNamespace(),
			"task_queue": testenv.UniqueName("bbb-e2e-"),
		},
		"reclaim":                map[string]any{"lead_seconds": 300},
		"finished_grace_seconds": 5,
		"worker":                 map[string]any{"listen": "127.0.0.1:0"},
		"starter":                map[string]any{"listen": "127.0.0.1:0"},
	}
	if o.Config != nil {
		o.Config(raw)
	}
	data, _ := json.Marshal(raw)
	e.cfg, err = config.Parse(data, func(string) string { return "" }, e.log)
	if err != nil {
		t.Fatalf("config: %v", err)
	}

	e.tc = tcqueue.New(&tcclient.Credentials{ClientID: schedClient, AccessToken: schedToken}, e.queue.RootURL())
	e.tc.HTTPBackoffClient = &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: time.Second, MaxElapsedTime: 5 * time.Second, Clock: backoff.SystemClock,
	}}

	if !o.NoWorker {
		e.startWorker()
	}
	if !o.NoStarters {
		n := o.Starters
		if n == 0 {
			n = 1
		}
		g3StartStarters(e, n)
	}
	return e
}

// g3StartStarters starts n starters and waits until every one of them
// consumes each of the bridge's queues.
func g3StartStarters(e *env, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		e.startStarter()
	}
	b := g3Bindings(e)
	for _, q := range []string{b.TaskPending.Queue, b.TaskException.Queue, b.Started.Queue, b.LogUploaded.Queue} {
		testenv.WaitForConsumers(e.t, string(e.cfg.PulseURL), q, n, 30*time.Second)
	}
}

// g3Bindings are the bridge's Pulse queues and bindings under this env's
// config, as the starter derives them.
func g3Bindings(e *env) pulse.BridgeBindings {
	c := e.cfg
	return pulse.Bindings(c.PulseQueueBasename, c.TCListener.PulseExchangeBasename,
		c.TCListener.ProvisionerID, c.TCListener.WorkerType, c.BBListener.PulseExchange)
}

// g3StopWorker stops the running worker as a deploy or crash-restart would
// (its context ends, running activities drain), and leaves its result for
// the harness's cleanup, which then sees a process that has ended.
func g3StopWorker(e *env) {
	e.t.Helper()
	e.mu.Lock()
	p := e.worker
	e.mu.Unlock()
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("worker stopped with: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Fatalf("worker did not stop within 30s")
	}
}

// g3WorkflowExists tells whether Temporal has any run of the task's
// workflow.
func g3WorkflowExists(e *env, taskID string) bool {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	_, err := e.temporal.DescribeWorkflowExecution(ctx, "task-"+taskID, "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return true
	case errors.As(err, &nf):
		return false
	}
	e.t.Fatalf("describe workflow task-%s: %v", taskID, err)
	return false
}

// g3ReadQueue takes n messages (and any already behind them) off a queue
// of this env's vhost, as an operator draining it would.
func g3ReadQueue(e *env, queue string, n int, timeout time.Duration) []amqp.Delivery {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	conn, err := pulse.Dial(ctx, string(e.cfg.PulseURL), "e2e-reader")
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		e.t.Fatal(err)
	}
	defer ch.Close()
	var out []amqp.Delivery
	e.waitFor(timeout, fmt.Sprintf("%d messages in %s", n, queue), func() bool {
		for {
			d, ok, err := ch.Get(queue, true)
			if err != nil {
				e.t.Fatalf("read %s: %v", queue, err)
			}
			if !ok {
				return len(out) >= n
			}
			out = append(out, d)
		}
	})
	return out
}

// g3LogRecorder keeps every log line of a deployment, formatted as the
// processes print them on stderr, for tests that check what an operator
// reads in the logs.
type g3LogRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *g3LogRecorder) handler() slog.Handler {
	return slog.NewTextHandler(g3LineWriter{r}, &slog.HandlerOptions{Level: slog.LevelDebug})
}

type g3LineWriter struct{ r *g3LogRecorder }

func (w g3LineWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	w.r.lines = append(w.r.lines, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Matching returns the lines that contain every one of parts.
func (r *g3LogRecorder) Matching(parts ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// g3Tee sends each record to two handlers.
type g3Tee struct{ a, b slog.Handler }

func (h g3Tee) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h g3Tee) Handle(ctx context.Context, r slog.Record) error {
	var errA, errB error
	if h.a.Enabled(ctx, r.Level) {
		errA = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		errB = h.b.Handle(ctx, r.Clone())
	}
	return errors.Join(errA, errB)
}

func (h g3Tee) WithAttrs(as []slog.Attr) slog.Handler {
	return g3Tee{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h g3Tee) WithGroup(name string) slog.Handler {
	return g3Tee{h.a.WithGroup(name), h.b.WithGroup(name)}
}
