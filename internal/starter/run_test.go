package starter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// logLines collects JSON log records.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
}

func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(b)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
	return len(b), nil
}

func (l *logLines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Run wires the config's names to the real broker: a task-pending published
// on Taskcluster's exchange for our workerType becomes a SignalWithStart, a
// build event becomes a signal, and an undecodable event ends up in the
// dead-letter queue, while /healthz tells whether every queue is consumed.
func TestRunConsumesTheConfiguredQueues(t *testing.T) {
	amqpURL := testenv.RabbitURL(t)
	db := sqliteDB(t)
	a := injected(t, db, taskA)
	raw, _ := json.Marshal(map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     "http://tc.example",
			"credentials": map[string]any{"clientId": "project/releng/buildbot-bridge", "accessToken": "run-test-token-x7"},
		},
		"buildbot_scheduler_db": "sqlite:////tmp/unused.db",
		"selfserve_url":         "http://buildapi.example/buildapi/self-serve",
		"pulse_url":             amqpURL,
		"pulse_queue_basename":  "queue/bbb-run",
		"tc_worker_group":       "buildbot-bridge",
		"tc_worker_id":          "buildbot-bridge",
		"restricted_builders":   []string{},
		"ignored_builders":      []string{},
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             "buildbot-bridge",
			"provisioner_id":          "buildbot-bridge",
		},
		"bblistener": map[string]any{"pulse_exchange": "exchange/build"},
		"reflector":  map[string]any{"interval": 7},
		"temporal":   map[string]any{"task_queue": "bbb-run-test"},
		"starter":    map[string]any{"listen": "127.0.0.1:0"},
		"worker":     map[string]any{"listen": "127.0.0.1:0"},
	})
	cfg, err := config.Parse(raw, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, ex := range []string{"exchange/taskcluster-queue/v1/task-pending", "exchange/taskcluster-queue/v1/task-exception", "exchange/build"} {
		if err := pub.DeclareTopicExchange(ctx, ex); err != nil {
			t.Fatal(err)
		}
	}

	logs := &logLines{}
	tc := newFakeTemporal()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- starter.Run(runCtx, cfg, db, tc, slog.New(slog.NewJSONHandler(logs, nil))) }()

	var health string
	eventually(t, "the health endpoint", func() bool {
		if m := logs.find("health endpoint"); m != nil {
			health = "http://" + m["addr"].(string) + "/healthz"
			return true
		}
		return false
	})
	eventually(t, "/healthz to answer 200", func() bool {
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	key := "primary." + taskA + ".0._._.buildbot-bridge.buildbot-bridge.-." + taskA + "._"
	if err := pub.Publish(ctx, "exchange/taskcluster-queue/v1/task-pending", key, pendingBody(taskA, 0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task-pending SignalWithStart", func() bool { return len(tc.recorded()) == 1 })
	c := tc.recorded()[0]
	if c.Kind != "signalWithStart" || c.WorkflowID != "task-"+taskA || c.Options.TaskQueue != "bbb-run-test" {
		t.Errorf("call %+v", c)
	}
	if args := c.Args; len(args) != 2 {
		t.Fatalf("args %v", args)
	}
	if got := c.Args[0]; !strings.Contains(mustJSON(t, got), `"checkInterval":"7s"`) {
		t.Errorf("TaskStart %s does not carry reflector.interval", mustJSON(t, got))
	}

	if err := pub.Publish(ctx, "exchange/build", "build.WINNT_5_2_mozilla-beta_build.42.started", startedBody(taskA, a)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the build-started signal", func() bool { return len(tc.recorded()) == 2 })
	if c := tc.recorded()[1]; c.Kind != "signal" || c.Signal != "build-started" {
		t.Errorf("call %+v", c)
	}

	if err := pub.Publish(ctx, "exchange/build", "build.WINNT_5_2_mozilla-beta_build.42.log_uploaded", []byte("<garbage>")); err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var dead amqp.Delivery
	eventually(t, "the garbage in queue/bbb-run/dead-letter", func() bool {
		d, ok, err := ch.Get("queue/bbb-run/dead-letter", true)
		dead = d
		return err == nil && ok
	})
	if string(dead.Body) != "<garbage>" || dead.Headers[pulse.HeaderOriginalRoutingKey] != "build.WINNT_5_2_mozilla-beta_build.42.log_uploaded" {
		t.Errorf("dead letter %q headers %v", dead.Body, dead.Headers)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if out := logs.text(); strings.Contains(out, "guest:guest@") || strings.Contains(out, "run-test-token-x7") {
		t.Errorf("logs carry a secret:\n%s", out)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
