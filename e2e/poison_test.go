package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/slugid-go/slugid"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
)

// g3Poison is one message no handler can use.
type g3Poison struct {
	what, exchange, key, queue string
	body                       []byte
	taskID                     string // the task it names, if any
}

// Scenario 20: Pulse messages the bridge cannot use (not JSON, or missing
// what the original's consumers required) are logged with their routing
// key, copied to the bridge's dead-letter queue, acknowledged so they
// cannot block their queue, start no workflow, and the consumers carry on.
func TestPoisonMessages(t *testing.T) {
	t.Parallel()
	logs := &g3LogRecorder{}
	e := newEnv(t, envOptions{LogHandler: logs.handler()})
	b := e.bindings()
	taskKey := func(taskID string) string {
		return strings.Join([]string{"primary", taskID, "0", "_", "_", provisionerID, workerType,
			schedulerID, taskID, "_"}, ".")
	}
	notJSON, noRunID, startedTask := slugid.Nice(), slugid.Nice(), slugid.Nice()
	noRequestIDs, _ := json.Marshal(map[string]any{
		"payload": map[string]any{"build": map[string]any{
			"builderName": "linux64 poison build", "number": 2, "results": nil,
			"properties": [][]any{{"buildername", "linux64 poison build", "Builder"}, {"taskId", startedTask, "bbb"}},
		}},
		"_meta": map[string]any{"master_name": "bm01:/builds/buildbot/bm01/master", "master_incarnation": "pid1-boot1",
			"message_id": "m-1", "exchange": "exchange/build", "routing_key": "build.linux64_poison_build.2.started",
			"serializer": "json", "sent": "2024-01-01T00:00:00Z"},
	})
	noRunIDBody, _ := json.Marshal(map[string]any{
		"version": 1,
		"status": map[string]any{"taskId": noRunID, "provisionerId": provisionerID, "workerType": workerType,
			"schedulerId": schedulerID, "taskGroupId": noRunID, "state": "pending", "retriesLeft": 5,
			"runs": []any{map[string]any{"runId": 0, "state": "pending", "reasonCreated": "scheduled"}}},
	})
	poison := []g3Poison{
		{what: "task-pending that is not JSON", exchange: b.TaskPending.Exchange, queue: b.TaskPending.Queue,
			key: taskKey(notJSON), body: []byte(`{"version": 1, "status": {"taskId": "` + notJSON + `"`), taskID: notJSON},
		{what: "task-pending without runId", exchange: b.TaskPending.Exchange, queue: b.TaskPending.Queue,
			key: taskKey(noRunID), body: noRunIDBody, taskID: noRunID},
		{what: "started that is not JSON", exchange: b.Started.Exchange, queue: b.Started.Queue,
			key: "build.x.1.started", body: []byte("build started, honest")},
		{what: "started without request_ids", exchange: b.Started.Exchange, queue: b.Started.Queue,
			key: "build.linux64_poison_build.2.started", body: noRequestIDs, taskID: startedTask},
	}

	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	pub, err := pulse.DialPublisher(ctx, string(e.cfg.PulseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, p := range poison {
		if err := pub.Publish(ctx, p.exchange, p.key, p.body); err != nil {
			t.Fatalf("publish %s: %v", p.what, err)
		}
	}

	// Each one is copied to the dead-letter queue, with where it came from.
	dead := g3ReadQueue(e, b.DeadLetterQueue, len(poison), 30*time.Second)
	for _, p := range poison {
		found := false
		for _, d := range dead {
			if d.Headers[pulse.HeaderOriginalRoutingKey] == p.key {
				found = true
				if string(d.Body) != string(p.body) || d.Headers[pulse.HeaderOriginalExchange] != p.exchange ||
					d.Headers[pulse.HeaderOriginalQueue] != p.queue || d.Headers[pulse.HeaderPoisonReason] == nil {
					t.Errorf("%s: dead-lettered as body %q headers %v", p.what, d.Body, d.Headers)
				}
			}
		}
		if !found {
			t.Errorf("%s: not in %s", p.what, b.DeadLetterQueue)
		}
		lines := logs.Matching("poison message", "routing_key="+p.key)
		if len(lines) == 0 {
			t.Errorf("%s: no log line about the poison message with routing_key=%s", p.what, p.key)
		}
		for _, l := range lines {
			// One routing_key field, the message's: a log search for it
			// must not find the binding's pattern instead.
			if n := strings.Count(l, " routing_key="); n != 1 {
				t.Errorf("%s: log line has %d routing_key fields: %s", p.what, n, l)
			}
		}
	}
	if len(dead) != len(poison) {
		t.Errorf("%d messages in %s, want %d", len(dead), b.DeadLetterQueue, len(poison))
	}

	// Acknowledged: the source queues drain and the broker counted the acks.
	for queue, n := range map[string]int{b.TaskPending.Queue: 2, b.Started.Queue: 2} {
		var q g3QueueInfo
		e.waitFor(30*time.Second, fmt.Sprintf("%s to ack %d messages and drain", queue, n), func() bool {
			q = g3QueueStats(e, queue)
			return q.MessageStats.Ack >= n && q.Messages == 0
		})
		if q.MessageStats.Ack != n {
			t.Errorf("%s: %d acks, want %d (a message handled twice?)", queue, q.MessageStats.Ack, n)
		}
	}

	for _, p := range poison {
		if p.taskID != "" && g3WorkflowExists(e, p.taskID) {
			t.Errorf("%s: a workflow task-%s was started", p.what, p.taskID)
		}
	}

	// The consumers carry on with the next, ordinary task.
	taskID := e.createTask(taskSpec{Builder: "linux64 after poison", Branch: "mozilla-central"})
	g3ExpectCompleted(e, taskID, "task after the poison messages")
}

// g3QueueInfo is what RabbitMQ's management API reports about a queue.
type g3QueueInfo struct {
	Messages     int `json:"messages"` // ready + unacknowledged
	MessageStats struct {
		Ack int `json:"ack"`
	} `json:"message_stats"`
}

// g3QueueStats reads a queue of this env's vhost from RabbitMQ's
// management API (its statistics lag a few seconds behind).
func g3QueueStats(e *env, queue string) g3QueueInfo {
	e.t.Helper()
	var q g3QueueInfo
	if err := e.rabbitQueue(queue, &q); err != nil {
		e.t.Fatalf("RabbitMQ management API: queue %s: %v", queue, err)
	}
	return q
}
