package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// Every call of the bridge is a local activity, and a local activity's
// retries with short backoffs run inside the workflow task that scheduled
// it: the SDK holds that task open for them, completing it and taking the
// next about every 8 s. When a dependency is down (self-serve answering 503,
// say) those workflow tasks last longer than 5 s, and the SDK warns
// "[TMPRL1104] <run>:<event>:<attempt> Workflow task duration exceeded 5
// seconds." for each of them, in every affected workflow, without saying
// which activity or why.
//
// The bridge follows its failing local activities (localRetries, a worker
// interceptor). When one of them explains the SDK's warning, the bridge says
// so in its own words at Warn, once for the run's spell of failures, and at
// Info when the activity gets through; the SDK's line goes to Debug. A
// TMPRL1104 that no failing local activity explains (a starved worker, a
// slow sweep pass) stays the SDK's warning, as does every other SDK warning.

// wftSlowPrefix starts the SDK's warning about a long workflow task
// (internal_task_pollers.go in go.temporal.io/sdk).
const wftSlowPrefix = "[TMPRL1104]"

// sdkLogger is the logger the SDK (client and worker) logs through.
type sdkLogger struct {
	next    log.Logger
	retries *localRetries
}

// newSDKLogger logs through logger. Its retries must be among the client's
// interceptors for it to explain anything.
func newSDKLogger(logger *slog.Logger) *sdkLogger {
	// Skip one more frame: this wrapper's.
	next := log.Skip(log.NewStructuredLogger(logger), 1)
	return &sdkLogger{next: next, retries: newLocalRetries(log.NewStructuredLogger(logger))}
}

func (l *sdkLogger) Debug(msg string, keyvals ...any) { l.next.Debug(msg, keyvals...) }
func (l *sdkLogger) Info(msg string, keyvals ...any)  { l.next.Info(msg, keyvals...) }
func (l *sdkLogger) Error(msg string, keyvals ...any) { l.next.Error(msg, keyvals...) }

func (l *sdkLogger) Warn(msg string, keyvals ...any) {
	if strings.HasPrefix(msg, wftSlowPrefix) {
		if r, ok := l.retries.explain(runIDOf(keyvals)); ok {
			l.next.Debug(msg, keyvals...)
			l.sayRetrying(r, keyvals)
			return
		}
	}
	l.next.Warn(msg, keyvals...)
}

// sayRetrying logs, the first time a run's failing activity makes a workflow
// task slow, what is going on.
func (l *sdkLogger) sayRetrying(r localRetry, keyvals []any) {
	if r.told {
		return
	}
	kv := []any{"WorkflowID", r.workflowID, "RunID", r.runID, "ActivityType", r.activity,
		"Attempt", r.attempt, "Error", r.err, "FailingSince", r.since}
	if d, ok := valueOf(keyvals, "WorkflowTaskDuration"); ok {
		kv = append(kv, "WorkflowTaskDuration", d)
	}
	if r.failing {
		l.next.Warn(fmt.Sprintf("local activity %s keeps failing and is being retried (attempt %d, last error: %s)",
			r.activity, r.attempt, r.err), kv...)
		return
	}
	// It got through within the same workflow task: only that task was slow.
	l.next.Info(fmt.Sprintf("local activity %s succeeded at attempt %d after failing (last error: %s)",
		r.activity, r.attempt, r.err), kv...)
}

func (l *sdkLogger) With(keyvals ...any) log.Logger {
	return &sdkLogger{next: log.With(l.next, keyvals...), retries: l.retries}
}

func (l *sdkLogger) WithCallerSkip(depth int) log.Logger {
	return &sdkLogger{next: log.Skip(l.next, depth), retries: l.retries}
}

func runIDOf(keyvals []any) string {
	v, _ := valueOf(keyvals, "RunID")
	s, _ := v.(string)
	return s
}

func valueOf(keyvals []any, key string) (any, bool) {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, ok := keyvals[i].(string); ok && k == key {
			return keyvals[i+1], true
		}
	}
	return nil, false
}

// localRetries follows, per workflow run, the local activity that is failing
// on this worker. It is a client interceptor only so that Dial can hand it
// to the SDK, which uses the worker interceptors among a client's
// interceptors in every worker made from that client.
type localRetries struct {
	interceptor.ClientInterceptorBase
	interceptor.WorkerInterceptorBase

	logger log.Logger
	now    func() time.Time

	mu     sync.Mutex
	byRun  map[string]*localRetry
	pruned time.Time
}

// localRetry is a run's local activity that failed at its last attempt, or
// that succeeded after failing and whose slow workflow task has not been
// explained yet.
type localRetry struct {
	workflowID, runID string
	// activity is the activity's name: its retries after a long backoff
	// are scheduled anew, under a new activity ID.
	activity    string
	attempt     int32
	err         string
	since, last time.Time
	failing     bool
	// told: the bridge said it is retrying; later slow workflow tasks of
	// the run are the same story, and its success is worth a line.
	told bool
}

// retryForgetAfter drops what is known of a run whose activity was last
// heard of this long ago (the workflow ended, moved to another worker, or
// gave up): retries are at most a minute apart.
const retryForgetAfter = 10 * time.Minute

// errorTextLimit keeps one error message from holding much memory per run.
const errorTextLimit = 500

func newLocalRetries(logger log.Logger) *localRetries {
	return &localRetries{logger: logger, now: time.Now, byRun: map[string]*localRetry{}}
}

func (r *localRetries) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &retryWatch{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, r: r}
}

type retryWatch struct {
	interceptor.ActivityInboundInterceptorBase
	r *localRetries
}

func (w *retryWatch) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := w.Next.ExecuteActivity(ctx, in)
	if info := activity.GetInfo(ctx); info.IsLocalActivity {
		w.r.attempted(info, err)
	}
	return res, err
}

// attempted records how one attempt of a local activity ended.
func (r *localRetries) attempted(info activity.Info, err error) {
	if over, ok := r.record(info, err); ok {
		// The Warn said it was failing: say that it is over.
		r.logger.Info(fmt.Sprintf("local activity %s succeeded again at attempt %d", over.activity, info.Attempt),
			"WorkflowID", over.workflowID, "RunID", over.runID, "ActivityType", over.activity,
			"Attempt", info.Attempt, "FailingSince", over.since)
	}
}

// record keeps how the attempt ended, and returns the retry it ended if the
// bridge had told about it.
func (r *localRetries) record(info activity.Info, err error) (localRetry, bool) {
	runID := info.WorkflowExecution.RunID
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	cur := r.byRun[runID]
	mine := cur != nil && cur.activity == info.ActivityType.Name
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		if !mine {
			return localRetry{}, false
		}
		if cur.told {
			delete(r.byRun, runID)
			return *cur, true
		}
		cur.failing, cur.attempt, cur.last = false, info.Attempt, now
	case errors.As(err, &appErr) && appErr.NonRetryable():
		// A final answer: no retry follows, nothing to explain later.
		if mine {
			delete(r.byRun, runID)
		}
	default:
		if !mine {
			cur = &localRetry{workflowID: info.WorkflowExecution.ID, runID: runID,
				activity: info.ActivityType.Name, since: now}
			r.byRun[runID] = cur
		}
		text := err.Error()
		if len(text) > errorTextLimit {
			text = text[:errorTextLimit] + "…"
		}
		cur.attempt, cur.err, cur.last, cur.failing = info.Attempt, text, now, true
	}
	return localRetry{}, false
}

// explain returns what the bridge knows of runID's failing local activity
// when the SDK found one of its workflow tasks slow. A success after
// failures explains only that one slow task, so it is forgotten.
func (r *localRetries) explain(runID string) (localRetry, bool) {
	if runID == "" {
		return localRetry{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.byRun[runID]
	if cur == nil {
		return localRetry{}, false
	}
	out := *cur
	if cur.failing {
		cur.told = true
	} else {
		delete(r.byRun, runID)
	}
	return out, true
}

func (r *localRetries) pruneLocked(now time.Time) {
	if now.Sub(r.pruned) < time.Minute {
		return
	}
	r.pruned = now
	for id, e := range r.byRun {
		if now.Sub(e.last) > retryForgetAfter {
			delete(r.byRun, id)
		}
	}
}
