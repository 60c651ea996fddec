package e2e

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/bridge"
)

// A deploy of new workflow code meets task workflows mid-build. Version 1
// runs four builds; version 2, whose workflow code differs behind a patch,
// starts beside it and is made current as an operator would; version 1
// stops. Every task then finishes on version 2 with the right resolution,
// exactly once, and a task created after the deploy runs on version 2
// alone.
func TestUpgradeMovesRunningTasksToTheNewVersion(t *testing.T) {
	logs := &upgradeLogs{}
	e := newEnv(t, envOptions{
		// Reclaims fall on both sides of the deploy.
		ClaimTimeout: 6 * time.Second,
		Script:       lcForever,
		LogHandler:   logs,
		Config: func(raw map[string]any) {
			raw["temporal"].(map[string]any)["build_id"] = "bbb-v1"
		},
	})

	tasks, builds := upgradeRunningTasks(e, 4)
	for _, taskID := range tasks {
		upgradeWaitVersion(e, taskID, "bbb-v1")
	}

	v2 := *e.cfg
	v2.Temporal.BuildID = "bbb-v2"
	e.run("worker-v2", func(ctx context.Context) error {
		return bridge.RunWorkerWith(ctx, &v2, e.log.With("process", "worker-v2"),
			bridge.WorkerExtras{Interceptors: []interceptor.WorkerInterceptor{&upgradePatch{}}})
	})
	// A second version never makes itself current: the operator is told how.
	e.waitFor(30*time.Second, "worker v2 to log the command that makes it current", func() bool {
		return logs.contains("temporal worker deployment set-current-version --deployment-name buildbot-bridge --build-id bbb-v2")
	})
	// Meanwhile version 1 keeps the tasks.
	for _, taskID := range tasks {
		upgradeWaitVersion(e, taskID, "bbb-v1")
	}

	deployment := e.temporal.WorkerDeploymentClient().GetHandle("buildbot-bridge")
	var setErr error
	e.waitFor(30*time.Second, "bbb-v2 made current", func() bool {
		_, setErr = deployment.SetCurrentVersion(e.ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: "bbb-v2"})
		return setErr == nil
	})
	e.stopWorker()

	after, b := upgradeRunningTasks(e, 1)
	tasks = append(tasks, after...)
	builds = append(builds, b...)

	upgradeFinish(e, tasks, builds)
	for i, taskID := range tasks {
		if brs := e.buildRequests(taskID); len(brs) != 1 {
			t.Errorf("task %d: BuildRequests %v, want one", i, brs)
		}
		if got := lcCallsBy(e, taskID)["rerunTask"]; got != 0 {
			t.Errorf("task %d: rerunTask %d times across the deploy", i, got)
		}
		if by := upgradeMemo(e, taskID); by != "bbb-v2" {
			t.Errorf("task %d: run reported completed by %q, want the patched code of bbb-v2", i, by)
		}
		if id := upgradeVersion(e, taskID, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE); id != "bbb-v2" {
			t.Errorf("task %d: ended on version %q, want bbb-v2", i, id)
		}
	}
}

// The first deploy with versioning needs no manual step, and takes over
// the tasks an unversioned bridge (before versioning) was carrying.
func TestFirstVersionedDeployTakesOverUnversionedTasks(t *testing.T) {
	logs := &upgradeLogs{}
	e := newEnv(t, envOptions{
		Script:     lcForever,
		LogHandler: logs,
		Config: func(raw map[string]any) {
			raw["temporal"].(map[string]any)["versioning"] = "off"
		},
	})
	tasks, builds := upgradeRunningTasks(e, 2)
	if id := upgradeVersion(e, tasks[0], enumspb.VERSIONING_BEHAVIOR_UNSPECIFIED); id != "" {
		t.Fatalf("an unversioned worker's task runs on version %q", id)
	}

	versioned := *e.cfg
	versioned.Temporal.Versioning = "auto-upgrade"
	versioned.Temporal.BuildID = "bbb-v1"
	e.run("worker-v1", func(ctx context.Context) error {
		return bridge.RunWorker(ctx, &versioned, e.log.With("process", "worker-v1"))
	})
	e.waitFor(30*time.Second, "the first version to make itself current", func() bool {
		return logs.contains("first version of the deployment: made current")
	})
	e.stopWorker()

	upgradeFinish(e, tasks, builds)
	for i, taskID := range tasks {
		if id := upgradeVersion(e, taskID, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE); id != "bbb-v1" {
			t.Errorf("task %d: ended on version %q, want bbb-v1", i, id)
		}
	}
}

// upgradePatch is version 2's workflow change, behind a patch as a real
// change must be: the task workflow records in its memo which version
// reported its run completed. Version 1's histories replay on it
// unchanged, since the patch is first met at reportCompleted, which no
// task reached on version 1.
type upgradePatch struct {
	interceptor.WorkerInterceptorBase
}

func (*upgradePatch) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &upgradePatchInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type upgradePatchInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *upgradePatchInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&upgradePatchOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type upgradePatchOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *upgradePatchOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if strings.HasSuffix(activityType, "ReportCompleted") &&
		workflow.GetVersion(ctx, "e2e-upgrade-records-reporter", workflow.DefaultVersion, 1) == 1 {
		if err := workflow.UpsertMemo(ctx, map[string]any{"reportedBy": "bbb-v2"}); err != nil {
			panic(err)
		}
	}
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

// upgradeRunningTasks creates n tasks and waits until each one's build runs.
func upgradeRunningTasks(e *env, n int) (tasks []string, builds []bbsim.BuildRecord) {
	e.t.Helper()
	for range n {
		taskID := lcCreateTask(e, time.Hour)
		_, b := lcWaitRunning(e, taskID)
		tasks = append(tasks, taskID)
		builds = append(builds, b)
	}
	return tasks, builds
}

// upgradeFinish ends every build with SUCCESS and checks each task's run
// was reported completed exactly once and its workflow closed.
func upgradeFinish(e *env, tasks []string, builds []bbsim.BuildRecord) {
	e.t.Helper()
	for _, b := range builds {
		if err := e.sim.FinishBuild(b.ID, bbsim.SUCCESS); err != nil {
			e.t.Fatal(err)
		}
	}
	for i, taskID := range tasks {
		e.waitRunState(taskID, 0, "completed", "completed", 60*time.Second)
		e.waitWorkflowClosed(taskID, 30*time.Second)
		if n := len(e.calls(taskID, "reportCompleted")); n != 1 {
			e.t.Errorf("task %d: reportCompleted %d times, want once", i, n)
		}
	}
}

// upgradeVersion is the build ID of the worker version the task's workflow
// runs on, as the Web UI shows it.
func upgradeVersion(e *env, taskID string, behavior enumspb.VersioningBehavior) string {
	e.t.Helper()
	desc, err := e.temporal.DescribeWorkflowExecution(e.ctx, "task-"+taskID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	v := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	if b := v.GetBehavior(); b != behavior {
		e.t.Errorf("task %s: versioning behaviour %v, want %v", taskID, b, behavior)
	}
	return v.GetDeploymentVersion().GetBuildId()
}

func upgradeWaitVersion(e *env, taskID, buildID string) {
	e.t.Helper()
	e.waitFor(30*time.Second, "task "+taskID+" on version "+buildID, func() bool {
		return upgradeVersion(e, taskID, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE) == buildID
	})
}

func upgradeMemo(e *env, taskID string) string {
	e.t.Helper()
	desc, err := e.temporal.DescribeWorkflowExecution(e.ctx, "task-"+taskID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	var by string
	if p, ok := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()["reportedBy"]; ok {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &by); err != nil {
			e.t.Fatal(err)
		}
	}
	return by
}

// upgradeLogs keeps the deployment's log lines, to find what an operator
// would read.
type upgradeLogs struct {
	mu    sync.Mutex
	lines []string
}

func (l *upgradeLogs) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *upgradeLogs) Enabled(context.Context, slog.Level) bool { return true }

func (l *upgradeLogs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func (l *upgradeLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *upgradeLogs) WithGroup(string) slog.Handler      { return l }
