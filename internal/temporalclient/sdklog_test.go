package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// captureHandler keeps every record as "LEVEL message key=value ...".
type captureHandler struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newCapture() *captureHandler { return &captureHandler{mu: &sync.Mutex{}, lines: &[]string{}} }

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	for _, a := range h.attrs {
		line += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.lines = append(*h.lines, line)
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &captureHandler{mu: h.mu, lines: h.lines, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// matching returns the lines at level (or any level when "") containing
// every one of substrs.
func (h *captureHandler) matching(level string, substrs ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
next:
	for _, line := range *h.lines {
		if level != "" && !strings.HasPrefix(line, level+" ") {
			continue
		}
		for _, s := range substrs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

const (
	runA = "0f7c2a6e-5c1b-4f3e-9d2a-8b1c7e6f5a4d"
	runB = "3b9d1e2f-7a6c-4d5e-8f9a-0b1c2d3e4f5a"
)

var errSelfServeDown = errors.New("self-serve: selfserve: DELETE /self-serve/mozilla-central/request/4711: 503 Service Unavailable")

// laAttempt is one attempt of local activity name. The SDK gives a retry
// after a long backoff a new activity ID, as here.
func laAttempt(runID, name string, attempt int32) activity.Info {
	return activity.Info{
		WorkflowExecution: workflow.Execution{ID: "task-fQ3r0Xy2T8a0mTq9X9lq8A", RunID: runID},
		ActivityID:        fmt.Sprint(attempt),
		ActivityType:      activity.Type{Name: name},
		Attempt:           attempt,
		IsLocalActivity:   true,
	}
}

// slowTask logs what the SDK logs when a workflow task of runID took 8 s
// (internal_task_pollers.go), through the worker's tagged logger.
func slowTask(l log.Logger, runID string, eventID int64) {
	log.With(l, "Namespace", "bridge", "TaskQueue", "buildbot-bridge", "WorkerID", "1@worker").Warn(
		fmt.Sprintf("[TMPRL1104] %s:%d:1 Workflow task duration exceeded 5 seconds.", runID, eventID),
		"WorkflowType", "TaskWorkflow", "WorkflowID", "task-fQ3r0Xy2T8a0mTq9X9lq8A", "RunID", runID,
		"Attempt", int32(1), "EventID", eventID, "WorkflowTaskDuration", 8*time.Second)
}

// Self-serve is down while a task cancels its BuildRequest: the local
// activity fails attempt after attempt and the SDK finds each workflow task
// slow. The log says once, at Warn, which activity keeps failing and why,
// and once at Info that it got through; TMPRL1104 is only in the debug log.
func TestFailingLocalActivityIsToldOnceInsteadOfEachSlowWorkflowTask(t *testing.T) {
	logs := newCapture()
	l := newSDKLogger(slog.New(logs))
	for attempt := int32(1); attempt <= 12; attempt++ {
		l.retries.attempted(laAttempt(runA, "CancelBuildRequest", attempt), errSelfServeDown)
		if attempt%4 == 0 {
			slowTask(l, runA, int64(20+attempt))
		}
	}
	l.retries.attempted(laAttempt(runA, "CancelBuildRequest", 13), nil)

	if got := logs.matching("WARN", "TMPRL1104"); len(got) != 0 {
		t.Errorf("the SDK's warning was logged at Warn: %v", got)
	}
	if got := logs.matching("DEBUG", "TMPRL1104"); len(got) != 3 {
		t.Errorf("%d TMPRL1104 lines at Debug, want the 3 the SDK logged: %v", len(got), logs.matching(""))
	}
	told := logs.matching("WARN")
	want := "WARN local activity CancelBuildRequest keeps failing and is being retried (attempt 4, last error: " + errSelfServeDown.Error() + ")"
	if len(told) != 1 || !strings.HasPrefix(told[0], want) {
		t.Fatalf("warnings %q, want one starting %q", told, want)
	}
	for _, kv := range []string{"WorkflowID=task-fQ3r0Xy2T8a0mTq9X9lq8A", "RunID=" + runA, "Attempt=4", "WorkflowTaskDuration=8s"} {
		if !strings.Contains(told[0], kv) {
			t.Errorf("warning %q lacks %s", told[0], kv)
		}
	}
	if got := logs.matching("INFO", "local activity CancelBuildRequest succeeded again at attempt 13", "RunID="+runA); len(got) != 1 {
		t.Errorf("want one line saying it got through; logged %q", logs.matching(""))
	}

	// A later outage of the same run is a new story.
	l.retries.attempted(laAttempt(runA, "CancelBuilds", 1), errSelfServeDown)
	slowTask(l, runA, 60)
	if got := logs.matching("WARN", "local activity CancelBuilds keeps failing"); len(got) != 1 {
		t.Errorf("the next failing activity was not told: %q", logs.matching(""))
	}
}

// A workflow task made slow by something the bridge cannot explain keeps
// the SDK's warning, as does every other SDK warning.
func TestUnexplainedSlowWorkflowTaskKeepsTheSDKWarning(t *testing.T) {
	logs := newCapture()
	l := newSDKLogger(slog.New(logs))
	l.retries.attempted(laAttempt(runA, "ReclaimRun", 2), errors.New("taskcluster reclaimTask: 502"))
	slowTask(l, runB, 30)
	l.Warn("Workflow has unhandled signals", "SignalNames", []string{"cancle"})
	if got := logs.matching("WARN", "[TMPRL1104]", runB); len(got) != 1 {
		t.Errorf("TMPRL1104 for a run with no failing activity: %q, want it at Warn", logs.matching(""))
	}
	if got := logs.matching("WARN", "Workflow has unhandled signals"); len(got) != 1 {
		t.Errorf("another SDK warning was not passed on: %q", logs.matching(""))
	}
	if got := logs.matching("", "local activity"); len(got) != 0 {
		t.Errorf("the bridge explained another run's slow task with its activity: %q", got)
	}
}

// A local activity that fails a few times and gets through within one
// workflow task made only that task slow: said once at Info.
func TestRetriesThatGotThroughExplainOneSlowTask(t *testing.T) {
	logs := newCapture()
	l := newSDKLogger(slog.New(logs))
	for attempt := int32(1); attempt <= 3; attempt++ {
		l.retries.attempted(laAttempt(runA, "ReadBuildRequest", attempt), errors.New("scheduler db: connection refused"))
	}
	l.retries.attempted(laAttempt(runA, "ReadBuildRequest", 4), nil)
	slowTask(l, runA, 14)
	slowTask(l, runA, 18)
	if got := logs.matching("INFO", "local activity ReadBuildRequest succeeded at attempt 4 after failing (last error: scheduler db: connection refused)"); len(got) != 1 {
		t.Errorf("logged %q", logs.matching(""))
	}
	if got := logs.matching("WARN"); len(got) != 1 || !strings.Contains(got[0], ":18:1 ") {
		t.Errorf("warnings %q, want only the second slow task's, which nothing explains", got)
	}
}

// A final answer ends the retries: a slow task after it is not theirs.
func TestNonRetryableFailureEndsTheStory(t *testing.T) {
	logs := newCapture()
	l := newSDKLogger(slog.New(logs))
	l.retries.attempted(laAttempt(runA, "ClaimRun", 1), errors.New("taskcluster claimTask: 503"))
	l.retries.attempted(laAttempt(runA, "ClaimRun", 2),
		temporal.NewNonRetryableApplicationError("run is not the latest", "TCRequestConflict", nil))
	slowTask(l, runA, 9)
	if got := logs.matching("WARN", "[TMPRL1104]"); len(got) != 1 {
		t.Errorf("logged %q, want the SDK's warning", logs.matching(""))
	}
}

func TestForgetsRunsNotHeardOfForLong(t *testing.T) {
	r := newLocalRetries(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	r.attempted(laAttempt(runA, "ClaimRun", 1), errSelfServeDown)
	now = now.Add(retryForgetAfter + 2*time.Minute)
	r.attempted(laAttempt(runB, "TaskStatus", 1), errSelfServeDown)
	if _, ok := r.explain(runA); ok {
		t.Error("a run last heard of long ago is still explained")
	}
	if _, ok := r.explain(runB); !ok {
		t.Error("the current run was forgotten")
	}
}

// In a worker, the interceptor sees every attempt of a local activity under
// its registered name.
func TestInterceptorFollowsLocalActivityAttempts(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	retries := newLocalRetries(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{retries}})
	var calls int
	cancelBuildRequest := func(context.Context, int64) error {
		calls++
		if calls < 3 {
			return errSelfServeDown
		}
		return nil
	}
	env.RegisterActivityWithOptions(cancelBuildRequest, activity.RegisterOptions{Name: "CancelBuildRequest"})
	var runID string
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		runID = workflow.GetInfo(ctx).WorkflowExecution.RunID
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Millisecond},
		})
		return workflow.ExecuteLocalActivity(ctx, "CancelBuildRequest", int64(4711)).Get(ctx, nil)
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r, ok := retries.explain(runID)
	if !ok || r.activity != "CancelBuildRequest" || r.attempt != 3 || r.failing || r.err != errSelfServeDown.Error() {
		t.Errorf("followed %+v (%v), want CancelBuildRequest through at attempt 3 after %q", r, ok, errSelfServeDown)
	}
}

func TestClientOptionsLogThroughTheBridgesLoggerAndFollowRetries(t *testing.T) {
	o := clientOptions(Options{Address: "127.0.0.1:7233", Namespace: "bridge"}, slog.New(slog.DiscardHandler))
	l, ok := o.Logger.(*sdkLogger)
	if !ok {
		t.Fatalf("the SDK logs through %T", o.Logger)
	}
	if len(o.Interceptors) != 1 || o.Interceptors[0] != interceptor.ClientInterceptor(l.retries) {
		t.Fatalf("interceptors %v, want the logger's retries", o.Interceptors)
	}
	if _, ok := o.Interceptors[0].(interceptor.WorkerInterceptor); !ok {
		t.Error("the retries are not a worker interceptor: workers would not use them")
	}
}
