package tcfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskcluster/httpbackoff/v3"
	"github.com/taskcluster/slugid-go/slugid"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

const (
	provisionerID = "buildbot-bridge"
	workerType    = "buildbot-bridge"
	schedulerID   = "tc-test"
	workerGroup   = "bbb-group"
	workerID      = "bbb-worker-1"
	prefix        = "exchange/taskcluster-queue/v1/"
)

// env is one running stand-in with a manual clock and, optionally, a Pulse
// consumer bound to all of its exchanges.
type env struct {
	q     *tcfake.Queue
	clock *tcfake.ManualClock
	rec   *recorder
	queue *tcqueue.Queue
	pulse *consumer
}

type envOptions struct {
	pulse   bool
	clients map[string]tcfake.Client
	creds   *tcclient.Credentials
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{clock: tcfake.NewManualClock(time.Now().UTC().Truncate(time.Millisecond))}
	opts := tcfake.Options{
		Clock:            e.clock,
		ResolverInterval: time.Hour, // tests drive the resolvers themselves
		Clients:          o.clients,
		Logger:           slog.New(slog.NewTextHandler(testLog{t}, nil)),
	}
	var amqpURL string
	if o.pulse {
		amqpURL = testenv.RabbitURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pub, err := pulse.DialPublisher(ctx, amqpURL)
		if err != nil {
			t.Fatalf("dial publisher: %v", err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		opts.Publisher = pub
	}
	q, err := tcfake.New(opts)
	if err != nil {
		t.Fatalf("tcfake.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(q.Close)
	e.q = q
	if o.pulse {
		e.pulse = newConsumer(t, amqpURL)
	}
	e.rec = &recorder{}
	e.queue = e.client(o.creds)
	return e
}

// testLog sends the stand-in's log to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// client returns an official client for the stand-in, with a short backoff
// and every reply recorded for schema checks.
func (e *env) client(creds *tcclient.Credentials) *tcqueue.Queue {
	c := tcqueue.New(creds, e.q.RootURL())
	c.HTTPBackoffClient = shortBackoff()
	c.HTTPClient = e.rec
	return c
}

func shortBackoff() *httpbackoff.Client {
	return &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval:     10 * time.Millisecond,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         50 * time.Millisecond,
		MaxElapsedTime:      200 * time.Millisecond,
		Clock:               backoff.SystemClock,
	}}
}

// recorder is the client's HTTP transport; it keeps each reply body.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := noRedirects.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	r.mu.Lock()
	r.last = data
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) lastBody() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// checkReply validates the last reply against the upstream schema name.
func (e *env) checkReply(t *testing.T, schema string) {
	t.Helper()
	body := e.rec.lastBody()
	if err := upstreamSchemas(t).Validate(schema, body); err != nil {
		t.Errorf("reply does not match %s.json: %v\n%s", schema, err, body)
	}
}

var (
	schemasOnce sync.Once
	schemas     *tcfake.SchemaSet
	schemasErr  error
	refsRaw     []byte
)

// upstreamSchemas loads generated/references.json from the Taskcluster
// module itself, so replies are judged by upstream, not by tcfake's copy.
func upstreamSchemas(t *testing.T) *tcfake.SchemaSet {
	t.Helper()
	schemasOnce.Do(func() {
		refsRaw, schemasErr = os.ReadFile(filepath.Join(taskclusterModuleDir(t), "generated", "references.json"))
		if schemasErr == nil {
			schemas, schemasErr = tcfake.LoadSchemaSet(refsRaw)
		}
	})
	if schemasErr != nil {
		t.Fatalf("load upstream schemas: %v", schemasErr)
	}
	return schemas
}

func taskclusterModuleDir(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/taskcluster/taskcluster/v44").Output()
	if err != nil {
		t.Fatalf("locate the taskcluster module: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// newTaskID returns a fresh slugid (v4, "nice").
func newTaskID(t *testing.T) string {
	t.Helper()
	return slugid.Nice()
}

func taskDefinition(now time.Time, retries int64) *tcqueue.TaskDefinitionRequest {
	return &tcqueue.TaskDefinitionRequest{
		ProvisionerID: provisionerID,
		WorkerType:    workerType,
		SchedulerID:   schedulerID,
		Created:       tcclient.Time(now),
		Deadline:      tcclient.Time(now.Add(time.Hour)),
		Expires:       tcclient.Time(now.Add(48 * time.Hour)),
		Retries:       retries,
		Payload:       json.RawMessage(`{"buildername":"Linux x86-64 mozilla-central build","sourcestamp":{"branch":"mozilla-central"}}`),
		Metadata: tcqueue.TaskMetadata{
			Name:        "tcfake test task",
			Description: "a task for the queue stand-in's tests",
			Owner:       "releng@example.com",
			Source:      "https://example.com/tcfake",
		},
		Tags: map[string]string{"kind": "test"},
	}
}

func (e *env) createTask(t *testing.T, retries int64) string {
	t.Helper()
	id := newTaskID(t)
	if _, err := e.queue.CreateTask(id, taskDefinition(e.clock.Now(), retries)); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return id
}

func (e *env) claim(t *testing.T, taskID, runID string) *tcqueue.TaskClaimResponse {
	t.Helper()
	resp, err := e.queue.ClaimTask(taskID, runID, &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	if err != nil {
		t.Fatalf("ClaimTask %s/%s: %v", taskID, runID, err)
	}
	return resp
}

type apiErrorBody struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	RequestInfo struct {
		Method  string            `json:"method"`
		Params  map[string]string `json:"params"`
		Payload json.RawMessage   `json:"payload"`
		Time    string            `json:"time"`
	} `json:"requestInfo"`
}

// wantAPIError checks err is an API error with the given status and code.
func wantAPIError(t *testing.T, err error, status int, code string) apiErrorBody {
	t.Helper()
	var apiErr *tcclient.APICallException
	if !errors.As(err, &apiErr) {
		t.Fatalf("want API error %d %s, got %v", status, code, err)
	}
	got := apiErr.CallSummary.HTTPResponse.StatusCode
	var body apiErrorBody
	if jerr := json.Unmarshal([]byte(apiErr.CallSummary.HTTPResponseBody), &body); jerr != nil {
		t.Fatalf("error body is not JSON: %v\n%s", jerr, apiErr.CallSummary.HTTPResponseBody)
	}
	if got != status || body.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, got, body.Code, body.Message)
	}
	var bad httpbackoff.BadHttpResponseCode
	if !errors.As(apiErr.RootCause, &bad) || bad.HttpResponseCode != status {
		t.Errorf("RootCause = %#v, want httpbackoff.BadHttpResponseCode %d", apiErr.RootCause, status)
	}
	return body
}

// consumer is a test queue bound to every queue exchange with "#".
type consumer struct {
	deliveries <-chan amqp.Delivery
}

func newConsumer(t *testing.T, url string) *consumer {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("consumer dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("consumer channel: %v", err)
	}
	qu, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatalf("consumer queue: %v", err)
	}
	for _, name := range []string{"task-defined", "task-pending", "task-running", "artifact-created", "task-completed", "task-failed", "task-exception"} {
		// Passive: the exchanges must already exist, declared by the queue.
		if err := ch.ExchangeDeclarePassive(prefix+name, "topic", true, false, false, false, nil); err != nil {
			t.Fatalf("exchange %s was not declared by the queue: %v", prefix+name, err)
		}
		if err := ch.QueueBind(qu.Name, "#", prefix+name, false, nil); err != nil {
			t.Fatalf("bind %s: %v", name, err)
		}
	}
	d, err := ch.Consume(qu.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	return &consumer{deliveries: d}
}

// expect reads the next message, which must come from exchange (without the
// prefix) with routingKey; see next.
func (c *consumer) expect(t *testing.T, exchange, routingKey string) map[string]any {
	t.Helper()
	rk, body := c.next(t, exchange)
	if rk != routingKey {
		t.Fatalf("%s message with routing key %s, want %s", exchange, rk, routingKey)
	}
	return body
}

// next reads the next message, which must come from exchange (without the
// prefix), be a persistent application/json message and match the
// exchange's upstream message schema. It returns the routing key and body.
func (c *consumer) next(t *testing.T, exchange string) (string, map[string]any) {
	t.Helper()
	select {
	case d := <-c.deliveries:
		if d.Exchange != prefix+exchange {
			t.Fatalf("got message on %s (%s), want %s\n%s", d.Exchange, d.RoutingKey, prefix+exchange, d.Body)
		}
		if d.ContentType != "application/json" || d.DeliveryMode != amqp.Persistent {
			t.Errorf("message properties: content-type %q, delivery mode %d", d.ContentType, d.DeliveryMode)
		}
		if err := upstreamSchemas(t).Validate(exchange+"-message", d.Body); err != nil {
			t.Errorf("%s body does not match %s-message.json: %v\n%s", exchange, exchange, err, d.Body)
		}
		var body map[string]any
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatalf("body: %v", err)
		}
		return d.RoutingKey, body
	case <-time.After(10 * time.Second):
		t.Fatalf("no message on %s within 10s", exchange)
	}
	return "", nil
}

// none asserts that no further message arrives for a while.
func (c *consumer) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-c.deliveries:
		t.Fatalf("unexpected message %s %s\n%s", d.Exchange, d.RoutingKey, d.Body)
	case <-time.After(300 * time.Millisecond):
	}
}

// key builds a primary routing key for a test task.
func key(taskID, runID, wg, wid string) string {
	return "primary." + taskID + "." + runID + "." + wg + "." + wid + "." + provisionerID + "." + workerType + "." + schedulerID + "." + taskID + "._"
}

// runOf digs status.runs[i] out of a decoded message or reply.
func runOf(t *testing.T, body map[string]any, i int) map[string]any {
	t.Helper()
	status, _ := body["status"].(map[string]any)
	runs, _ := status["runs"].([]any)
	if i >= len(runs) {
		t.Fatalf("no run %d in %v", i, status)
	}
	return runs[i].(map[string]any)
}
