package e2e

// Helpers for the result, retry, duplicate-delivery and ContinueAsNew
// scenarios (results_test.go, retry_test.go, duplicates_test.go,
// continue_as_new_test.go). Their names start with "g1" so they cannot
// collide with other scenario files of this package.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/signals"
	"github.com/bbbridge/buildbot-bridge/workflows"
)

// g1Message is one Pulse message as a consumer sees it.
type g1Message struct {
	Exchange   string
	RoutingKey string
	Body       []byte
}

// g1Tap is a test's own Pulse queue bound to an exchange, like any other
// Pulse user's: it sees the messages the bridge's queues see, without
// taking them from the bridge.
type g1Tap struct {
	mu   sync.Mutex
	msgs []g1Message
}

// g1NewTap binds an exclusive queue to exchange with key. Messages
// published before it returns are not seen.
func g1NewTap(e *env, exchange, key string) *g1Tap {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	ch, _ := e.pulseChannel(ctx, "e2e-tap")
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		e.t.Fatalf("declare tap queue: %v", err)
	}
	if err := ch.QueueBind(q.Name, key, exchange, false, nil); err != nil {
		e.t.Fatalf("bind tap queue to %s: %v", exchange, err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		e.t.Fatalf("consume tap queue: %v", err)
	}
	tp := &g1Tap{}
	go func() {
		for d := range deliveries {
			tp.mu.Lock()
			tp.msgs = append(tp.msgs, g1Message{Exchange: d.Exchange, RoutingKey: d.RoutingKey, Body: d.Body})
			tp.mu.Unlock()
		}
	}()
	return tp
}

// wait returns the first message that match accepts, waiting for it.
func (tp *g1Tap) wait(e *env, what string, match func(g1Message) bool) g1Message {
	e.t.Helper()
	var found g1Message
	e.waitFor(30*time.Second, what, func() bool {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		for _, m := range tp.msgs {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// g1RunOf is the runId of a task-pending or task-exception message body.
func g1RunOf(m g1Message) int {
	var b struct {
		RunID *int `json:"runId"`
	}
	if json.Unmarshal(m.Body, &b) != nil || b.RunID == nil {
		return -1
	}
	return *b.RunID
}

// g1TapTaskPending taps the queue's task-pending exchange for the bridge's
// provisioner and worker type.
func g1TapTaskPending(e *env) *g1Tap {
	return g1NewTap(e, e.cfg.TCListener.PulseExchangeBasename+"/task-pending",
		"*.*.*.*.*."+provisionerID+"."+workerType+".#")
}

// g1WaitPending waits for the queue's task-pending message of a run.
func g1WaitPending(e *env, tp *g1Tap, taskID string, runID int) g1Message {
	e.t.Helper()
	return tp.wait(e, fmt.Sprintf("the queue's task-pending for task %s run %d", taskID, runID), func(m g1Message) bool {
		return strings.HasPrefix(m.RoutingKey, "primary."+taskID+".") && g1RunOf(m) == runID
	})
}

// g1Publish publishes body n times to exchange with key, as a redelivering
// or duplicating Pulse would, and returns once the broker confirmed all.
func g1Publish(e *env, exchange, key string, body []byte, n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	ch, conn := e.pulseChannel(ctx, "e2e-republish")
	defer conn.Close()
	if err := ch.Confirm(false); err != nil {
		e.t.Fatal(err)
	}
	// Confirms are awaited in batches: one round trip per message would
	// make a flood of thousands take most of a test's time budget.
	const batch = 500
	for sent := 0; sent < n; {
		var confs []*amqp.DeferredConfirmation
		for i := 0; i < batch && sent < n; i++ {
			c, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body,
			})
			if err != nil {
				e.t.Fatalf("publish to %s: %v", exchange, err)
			}
			confs = append(confs, c)
			sent++
		}
		for _, c := range confs {
			if ok, err := c.WaitContext(ctx); err != nil || !ok {
				e.t.Fatalf("publish to %s not confirmed: ok=%v err=%v", exchange, ok, err)
			}
		}
	}
}

// g1QueueStats reads a bridge queue's depth and acknowledged-message count
// from RabbitMQ's management API. Its statistics lag by a few seconds, so
// a caller waits for both a count of acks and an empty queue.
func g1QueueStats(e *env, queue string) (messages, acked int, err error) {
	var q g3QueueInfo
	err = e.rabbitQueue(queue, &q)
	return q.Messages, q.MessageStats.Ack, err
}

// g1WaitQueueDrained waits until the bridge's queue has acknowledged at
// least acks messages and holds none: the starter has handled them all.
func g1WaitQueueDrained(e *env, queue string, acks int) {
	e.t.Helper()
	e.waitFor(30*time.Second, fmt.Sprintf("queue %s drained after %d acks", queue, acks), func() bool {
		n, a, err := g1QueueStats(e, queue)
		return err == nil && n == 0 && a >= acks
	})
}

// g1Request is a buildrequests row as Buildbot reads it.
type g1Request struct {
	Complete, Results int
	ClaimedAt         int64
	Builds            int // builds rows of the request
}

func g1RequestRow(e *env, brid int64) g1Request {
	e.t.Helper()
	var r g1Request
	var results *int
	err := e.db.SQL().QueryRowContext(e.ctx, `SELECT complete, results, claimed_at FROM buildrequests WHERE id = ?`, brid).
		Scan(&r.Complete, &results, &r.ClaimedAt)
	if err != nil {
		e.t.Fatalf("read BuildRequest %d: %v", brid, err)
	}
	r.Results = -1
	if results != nil {
		r.Results = *results
	}
	if err := e.db.SQL().QueryRowContext(e.ctx, `SELECT COUNT(*) FROM builds WHERE brid = ?`, brid).Scan(&r.Builds); err != nil {
		e.t.Fatalf("count builds of BuildRequest %d: %v", brid, err)
	}
	return r
}

// g1CheckArtifacts checks run runID of the task carries the two artifacts
// the original attached (DESIGN §4): properties.json with the build's
// properties, and a reference to the build's log.
func g1CheckArtifacts(e *env, taskID string, runID int, wantTaskIDProp, wantLogURL string) {
	e.t.Helper()
	var props, logRef bool
	arts := e.queue.Artifacts(taskID, runID)
	for _, a := range arts {
		switch a.Name {
		case "public/properties.json":
			props = true
			var got map[string][]any
			if err := json.Unmarshal(a.Body, &got); err != nil {
				e.t.Errorf("task %s run %d: properties.json is not {name: [value, source]}: %v: %s", taskID, runID, err, a.Body)
			} else if v := got["taskId"]; len(v) != 2 || v[0] != wantTaskIDProp {
				e.t.Errorf("task %s run %d: properties.json taskId = %v, want [%q, source]", taskID, runID, v, wantTaskIDProp)
			}
		case "public/logs/live_backing.log.gz":
			logRef = true
			if a.StorageType != "reference" || a.ContentType != "application/gzip" || (wantLogURL != "" && a.URL != wantLogURL) {
				e.t.Errorf("task %s run %d: log artifact %s %s %q, want reference application/gzip %q",
					taskID, runID, a.StorageType, a.ContentType, a.URL, wantLogURL)
			}
		}
	}
	if !props || !logRef {
		e.t.Errorf("task %s run %d artifacts: %+v, want public/properties.json and public/logs/live_backing.log.gz",
			taskID, runID, arts)
	}
}

// g1Describe describes the task workflow's run (runID "" = the latest).
func g1Describe(e *env, taskID, runID string) *workflowservice.DescribeWorkflowExecutionResponse {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	d, err := e.temporal.DescribeWorkflowExecution(ctx, signals.TaskWorkflowID(taskID), runID)
	if err != nil {
		e.t.Fatalf("describe task-%s: %v", taskID, err)
	}
	return d
}

// g1History reads the whole history of one run of the task's workflow.
func g1History(e *env, taskID, runID string) *historypb.History {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	it := e.temporal.GetWorkflowHistory(ctx, signals.TaskWorkflowID(taskID), runID, false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.t.Fatalf("history of task-%s: %v", taskID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

// g1SignalCount counts the signals named name in a history.
func g1SignalCount(h *historypb.History, name string) int {
	n := 0
	for _, ev := range h.Events {
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			n++
		}
	}
	return n
}

// g1ReplayAndRecord replays a recorded history against today's workflow
// code, as workflows/replay_test.go does in CI, and with
// BBB_RECORD_HISTORY=<release> writes it to
// workflows/testdata/histories/<release>/<file> in the format of `temporal
// workflow show --output json`.
func g1ReplayAndRecord(e *env, h *historypb.History, file string) {
	e.t.Helper()
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
	if err := r.ReplayWorkflowHistory(nil, h); err != nil {
		e.t.Errorf("the history of this run does not replay: %v", err)
		return
	}
	release := os.Getenv("BBB_RECORD_HISTORY")
	if release == "" {
		return
	}
	if filepath.Base(release) != release || release == "." || release == ".." {
		e.t.Fatalf("BBB_RECORD_HISTORY=%q: a release name, not a path", release)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join("..", "workflows", "testdata", "histories", release, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("recorded %d events to %s", len(h.Events), path)
}

// g1StartSim starts another set of simulated masters on the env's
// scheduler DB and Pulse, for a test that needs the builds to start only
// once it has set the DB up (the env's own masters poll from the start).
func g1StartSim(e *env, script bbsim.Script) *bbsim.Sim {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	sim, err := e.dep.StartSim(ctx, e.simOptions(script, nil, "bbsim-2"))
	if err != nil {
		e.t.Fatal(err)
	}
	return sim
}

// g1BuildsOf returns the builds sim ran for brid.
func g1BuildsOf(sim *bbsim.Sim, brid int64) []bbsim.BuildRecord {
	var out []bbsim.BuildRecord
	for _, b := range sim.Builds() {
		if slices.Contains(b.BRIDs, brid) {
			out = append(out, b)
		}
	}
	return out
}
