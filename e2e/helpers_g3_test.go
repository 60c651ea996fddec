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

	amqp "github.com/rabbitmq/amqp091-go"
	"go.temporal.io/api/serviceerror"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// g3Changes returns the calls that change the task (any answer), other
// than the scheduler's createTask.
func g3Changes(e *env, taskID string) []string {
	var out []string
	for _, c := range e.changingCalls(taskID) {
		out = append(out, fmt.Sprintf("%s run %d → %d", c.Method, c.RunID, c.Status))
	}
	return out
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
	if len(exc) != 1 || exceptionReason(exc[0]) != "malformed-payload" {
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
	ch, conn := e.pulseChannel(ctx, "e2e-reader")
	defer conn.Close()
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
