package workflows

import (
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// The test environment keeps no history, so the budget is computed from
// what the workflow asks of Temporal, counted by an interceptor, with one
// history event per command and one workflow task (scheduled, started,
// completed) per distinct wake-up time, as the server records them:
//
//	started + signals + 3·workflow tasks + local activity markers
//	+ timers started/fired/cancelled + search attribute and memo upserts + completed
type historyCounter struct {
	interceptor.WorkerInterceptorBase
	mu       sync.Mutex
	signals  int
	markers  int
	timers   int
	upserts  int
	fired    int
	canceled int
	wakeups  map[time.Time]bool
}

func (c *historyCounter) add(n *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
}

func (c *historyCounter) wake(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wakeups[at] = true
}

func (c *historyCounter) events() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return 1 + c.signals + 3*len(c.wakeups) + c.markers + c.timers + c.fired + c.canceled + c.upserts + 1
}

func (c *historyCounter) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &countingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, c: c}
}

type countingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *historyCounter
}

func (i *countingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&countingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, c: i.c})
}

func (i *countingInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	i.c.wake(workflow.Now(ctx))
	return i.Next.ExecuteWorkflow(ctx, in)
}

func (i *countingInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	i.c.add(&i.c.signals)
	i.c.wake(workflow.Now(ctx))
	return i.Next.HandleSignal(ctx, in)
}

type countingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	c *historyCounter
}

func (o *countingOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.add(&o.c.markers)
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (o *countingOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, options workflow.TimerOptions) workflow.Future {
	if d > 0 { // a due time already past makes no timer
		o.c.add(&o.c.timers)
	}
	return o.Next.NewTimerWithOptions(ctx, d, options)
}

func (o *countingOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.c.add(&o.c.upserts)
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (o *countingOutbound) UpsertMemo(ctx workflow.Context, memo map[string]any) error {
	o.c.add(&o.c.upserts)
	return o.Next.UpsertMemo(ctx, memo)
}

// countCommands counts what w's workflow asks of Temporal.
func countCommands(w *world) *historyCounter {
	c := &historyCounter{wakeups: map[time.Time]bool{}}
	w.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{c}})
	w.env.SetOnTimerFiredListener(func(string) { c.add(&c.fired); c.wake(w.env.Now()) })
	w.env.SetOnTimerCanceledListener(func(string) { c.add(&c.canceled) })
	return c
}

func TestHistoryOfATaskThatSucceedsFirstTime(t *testing.T) {
	w := newWorld(t) // TC's real 20-minute claims
	c := countCommands(w)
	// A typical test job: starts 45 s after it was scheduled, runs 28
	// minutes, so its claim is renewed once.
	w.buildRunsFrom(45*time.Second, 30)
	w.buildFinishesAt(1725*time.Second, 30, signals.ResultSuccess)
	w.start(0)
	w.requireDone()
	equalStrings(t, "activities", w.callNames(), []string{
		"TaskStatus", "PrepareTask", "InjectBuildRequest", "ClaimRun", "ReclaimRun", "ReadBuildRequest",
		"CreateArtifacts", "ReportCompleted"})
	if n := c.events(); n > 40 {
		t.Errorf("about %d history events, want at most 40 (signals %d, workflow tasks %d, markers %d, timers %d/%d/%d, upserts %d)",
			n, c.signals, len(c.wakeups), c.markers, c.timers, c.fired, c.canceled, c.upserts)
	} else {
		t.Logf("about %d history events (signals %d, workflow tasks %d, markers %d, timers started %d fired %d cancelled %d, upserts %d)",
			n, c.signals, len(c.wakeups), c.markers, c.timers, c.fired, c.canceled, c.upserts)
	}
	if c.markers != 8 || c.signals != 3 {
		t.Errorf("counted %d local activities and %d signals, want 8 and 3: the interceptor missed calls", c.markers, c.signals)
	}
}
