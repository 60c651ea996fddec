package activities_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/slugid-go/slugid"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The bridge's worker identity and task queue in Taskcluster, as a
// deployment's config.json names them.
const (
	provisionerID = "buildbot-bridge"
	workerType    = "buildbot-bridge"
	workerGroup   = "buildbot-bridge"
	workerID      = "buildbot-bridge"
	bridgeClient  = "project/releng/buildbot-bridge/production"
	creatorClient = "project/releng/decision"
)

// bridgeScopes are the permanent scopes REFERENCE §A says the bridge's
// credentials need.
var bridgeScopes = []string{
	"queue:claim-task:" + provisionerID + "/" + workerType,
	"queue:worker-id:" + workerGroup + "/" + workerID,
	"queue:cancel-task:*",
	"queue:rerun-task:*",
	"queue:reclaim-task:*",
	"queue:resolve-task:*",
	"queue:create-artifact:*",
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// logBuffer collects everything the activities log, for the secrets test.
type logBuffer = testenv.SyncBuffer

// bridge is the activities under test with the real stand-ins behind them:
// the fake TC queue over HTTP with authentication on, and a scheduler DB.
type bridge struct {
	queue       *tcfake.Queue
	sim         *bbsim.Sim
	creator     *tcqueue.Queue
	db          *schedulerdb.DB
	acts        *activities.Activities
	deps        activities.Deps
	accessToken string
	logs        *logBuffer
	env         *testsuite.TestActivityEnvironment
}

type bridgeOptions struct {
	dbURL        string // default: a fresh MariaDB database
	claimTimeout time.Duration
	// tcClock is the queue's clock (default: real time).
	tcClock tcfake.Clock
	// buildbot starts a simulated master building only these builders
	// (forever, until cancelled), and points self-serve at it.
	buildbot  []string
	configure func(*activities.Deps)
}

func newBridge(t *testing.T, o bridgeOptions) *bridge {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := &bridge{accessToken: "bridge-token-" + randomHex(16), logs: &logBuffer{}}
	creatorToken := randomHex(16)
	q, err := tcfake.New(tcfake.Options{
		ClaimTimeout: o.claimTimeout,
		Clock:        o.tcClock,
		Clients: map[string]tcfake.Client{
			bridgeClient:  {AccessToken: b.accessToken, Scopes: bridgeScopes},
			creatorClient: {AccessToken: creatorToken, Scopes: []string{"*"}},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	b.queue = q
	b.creator = tcqueue.New(&tcclient.Credentials{ClientID: creatorClient, AccessToken: creatorToken}, q.RootURL())

	if o.dbURL == "" {
		o.dbURL = testenv.MariaDBURL(t)
	}
	b.db = openSchedulerDB(t, o.dbURL)
	selfServeURL := "http://127.0.0.1:1/buildapi/self-serve" // nothing listens
	if o.buildbot != nil {
		b.sim = startBuildbot(t, b.db, o.buildbot)
		selfServeURL = b.sim.SelfServeURL()
	}

	logger := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.deps = activities.Deps{
		Queue:       activities.NewQueue(q.RootURL(), bridgeClient, b.accessToken),
		WorkerGroup: workerGroup,
		WorkerID:    workerID,
		DB:          b.db,
		SelfServe:   selfserve.New(selfServeURL, nil),
		TaskQueue:   "buildbot-bridge",
		Logger:      logger,
	}
	if o.configure != nil {
		o.configure(&b.deps)
	}
	b.acts = activities.New(b.deps)
	var suite testsuite.WorkflowTestSuite
	// The SDK's own lines (it logs every failed activity with its error)
	// go to the same place, so the secrets test sees them too.
	suite.SetLogger(tlog.NewStructuredLogger(logger))
	b.env = suite.NewTestActivityEnvironment()
	b.env.RegisterActivity(b.acts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("activity logs:\n%s", b.logs)
		}
	})
	return b
}

func openSchedulerDB(t *testing.T, url string) *schedulerdb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := schedulerdb.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBridgeTable(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// startBuildbot runs a simulated Buildbot master and self-serve on db.
func startBuildbot(t *testing.T, db *schedulerdb.DB, builders []string) *bbsim.Sim {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := pulse.DialPublisher(ctx, testenv.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	sim, err := bbsim.New(bbsim.Options{
		DB: db.SQL(), Driver: db.Driver(), Publisher: pub,
		Builders:     builders,
		PollInterval: 100 * time.Millisecond,
		AgentDelay:   -1,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: bbsim.Forever}),
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// eventually waits up to 20 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// taskSpec is what a test task differs in.
type taskSpec struct {
	payload  string
	scopes   []string
	priority string
	retries  int64
	deadline time.Duration // default 1 day
}

// createTask creates a task for the bridge's worker type, as a decision
// task would, and returns its id; run 0 is pending.
func (b *bridge) createTask(t *testing.T, s taskSpec) string {
	t.Helper()
	if s.deadline == 0 {
		s.deadline = 24 * time.Hour
	}
	if s.payload == "" {
		s.payload = `{"buildername": "linux64-build", "sourcestamp": {"branch": "mozilla-central", "revision": "abcdef123456"}, "properties": {"product": "firefox"}}`
	}
	now := time.Now().UTC()
	id := slugid.Nice()
	_, err := b.creator.CreateTask(id, &tcqueue.TaskDefinitionRequest{
		ProvisionerID: provisionerID,
		WorkerType:    workerType,
		Created:       tcclient.Time(now),
		Deadline:      tcclient.Time(now.Add(s.deadline)),
		Expires:       tcclient.Time(now.Add(30 * 24 * time.Hour)),
		Payload:       json.RawMessage(s.payload),
		Priority:      s.priority,
		Retries:       s.retries,
		Scopes:        s.scopes,
		Metadata: tcqueue.TaskMetadata{
			Name: "bbb test task", Description: "a task for the bridge", Owner: "releng@mozilla.com",
			Source: "https://github.com/bbbridge/buildbot-bridge",
		},
	})
	if err != nil {
		t.Fatalf("createTask: %v", err)
	}
	return id
}

// status is the fake queue's view of a task.
func (b *bridge) status(t *testing.T, taskID string) tcqueue.TaskStatusStructure {
	t.Helper()
	st, ok := b.queue.Status(taskID)
	if !ok {
		t.Fatalf("task %s unknown to the queue", taskID)
	}
	return st
}

// run executes one activity as Temporal would and decodes its result into
// out (nil for activities that return only an error).
func (b *bridge) run(t *testing.T, out any, fn any, args ...any) error {
	t.Helper()
	val, err := b.env.ExecuteActivity(fn, args...)
	if err != nil || out == nil {
		return err
	}
	if err := val.Get(out); err != nil {
		t.Fatalf("decode activity result: %v", err)
	}
	return nil
}

// must runs an activity that has to succeed.
func (b *bridge) must(t *testing.T, out any, fn any, args ...any) {
	t.Helper()
	if err := b.run(t, out, fn, args...); err != nil {
		t.Fatalf("activity failed: %v", err)
	}
}

// appError returns the ApplicationError an activity failed with, or nil.
func appError(err error) *temporal.ApplicationError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// wantFinal checks that err is a non-retryable ApplicationError of errType.
func wantFinal(t *testing.T, err error, errType string) {
	t.Helper()
	ae := appError(err)
	if ae == nil {
		t.Fatalf("error = %v, want a non-retryable %s", err, errType)
	}
	if ae.Type() != errType || !ae.NonRetryable() {
		t.Fatalf("error type %q (non-retryable %v), want non-retryable %q: %v", ae.Type(), ae.NonRetryable(), errType, err)
	}
}

// wantRetryable checks that err is one the activity retry policy retries.
func wantRetryable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("activity succeeded, want a retryable error")
	}
	if ae := appError(err); ae != nil && ae.NonRetryable() {
		t.Fatalf("error is non-retryable (%s), want retryable: %v", ae.Type(), err)
	}
}

// historyJSON is how a value appears in workflow history (and the Web UI).
func historyJSON(t *testing.T, v any) string {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(p.GetData())
}

func containsAny(s string, subs ...string) string {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
