package e2e

// Helpers for the cancel, deadline and reclaim scenarios (cancel_test.go,
// deadline_test.go, reclaim_test.go). Their names start with "lc" so they
// cannot collide with other scenario files of this package.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/signals"
)

const (
	// lcBranch is the sourcestamp branch of every task here; self-serve
	// files its requests and builds under the last path element.
	lcBranch = "https://hg.mozilla.org/integration/mozilla-inbound"
	// lcBuilder is the builder the tasks ask for; lcOtherBuilder is the
	// only one served when a test keeps the build from starting.
	lcBuilder      = "linux64 mozilla-inbound opt build"
	lcOtherBuilder = "WINNT 5.2 mozilla-beta build"
	// lcSheriff is a Buildbot user cancelling through self-serve by hand.
	lcSheriff = "sheriff@example.com"
	// lcBridgeUser is the X-Remote-User REFERENCE §D says the bridge sends.
	lcBridgeUser = "buildbot-bridge"
)

// lcForever is a build that runs until self-serve or the test ends it.
var lcForever = bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: bbsim.Forever})

// lcCreateTask creates a task for lcBuilder on lcBranch.
func lcCreateTask(e *env, deadline time.Duration) string {
	e.t.Helper()
	return e.createTask(taskSpec{
		Builder:  lcBuilder,
		Branch:   lcBranch,
		Revision: "0123456789ab",
		Deadline: deadline,
	})
}

// lcWaitBuildRequest waits until the task has its BuildRequest and returns
// it; a second one fails the test.
func lcWaitBuildRequest(e *env, taskID string) int64 {
	e.t.Helper()
	var ids []int64
	e.waitFor(20*time.Second, "the task's BuildRequest", func() bool {
		ids = e.buildRequests(taskID)
		return len(ids) > 0
	})
	if len(ids) != 1 {
		e.t.Fatalf("BuildRequests of task %s: %v, want exactly one", taskID, ids)
	}
	return ids[0]
}

// lcWaitRunning waits until the task's run 0 is running in TC (claimed by
// the bridge) and a build of its BuildRequest is running in Buildbot.
func lcWaitRunning(e *env, taskID string) (int64, bbsim.BuildRecord) {
	e.t.Helper()
	e.waitRunState(taskID, 0, "running", "", 30*time.Second)
	brid := lcWaitBuildRequest(e, taskID)
	b := lcWaitBuild(e, brid, "running", func(r bbsim.BuildRecord) bool { return r.Result == -1 && r.ID != 0 })
	return brid, b
}

// lcWaitBuild waits for a build of brid for which cond holds.
func lcWaitBuild(e *env, brid int64, what string, cond func(bbsim.BuildRecord) bool) bbsim.BuildRecord {
	e.t.Helper()
	var found bbsim.BuildRecord
	e.waitFor(30*time.Second, fmt.Sprintf("a %s build of BuildRequest %d", what, brid), func() bool {
		for _, r := range e.sim.Builds() {
			if slices.Contains(r.BRIDs, brid) && cond(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// lcBuildsOf returns the builds the simulated masters ran for brid.
func lcBuildsOf(e *env, brid int64) []bbsim.BuildRecord {
	var out []bbsim.BuildRecord
	for _, r := range e.sim.Builds() {
		if slices.Contains(r.BRIDs, brid) {
			out = append(out, r)
		}
	}
	return out
}

// lcRequestRow is a buildrequests row as Buildbot reads it.
type lcRequestRow struct {
	Complete  int
	Results   sql.NullInt64
	ClaimedAt sql.NullInt64
}

func (r lcRequestRow) String() string {
	res, claimed := "NULL", "NULL"
	if r.Results.Valid {
		res = fmt.Sprint(r.Results.Int64)
	}
	if r.ClaimedAt.Valid {
		claimed = fmt.Sprint(r.ClaimedAt.Int64)
	}
	return fmt.Sprintf("complete=%d results=%s claimed_at=%s", r.Complete, res, claimed)
}

// cancelledBeforeStart is how Buildbot's agent leaves a request cancelled
// before a master claimed it (REFERENCE §B): no master will run it again.
func (r lcRequestRow) cancelledBeforeStart() bool {
	return r.Complete == 1 && r.Results.Valid && r.Results.Int64 == bbsim.FAILURE &&
		r.ClaimedAt.Valid && r.ClaimedAt.Int64 == 0
}

func lcRow(e *env, brid int64) lcRequestRow {
	e.t.Helper()
	var r lcRequestRow
	err := e.db.SQL().QueryRowContext(e.ctx,
		`SELECT complete, results, claimed_at FROM buildrequests WHERE id = ?`, brid).
		Scan(&r.Complete, &r.Results, &r.ClaimedAt)
	if err != nil {
		e.t.Fatalf("read BuildRequest %d: %v", brid, err)
	}
	return r
}

// lcWaitRow waits until the BuildRequest row satisfies cond.
func lcWaitRow(e *env, brid int64, what string, cond func(lcRequestRow) bool) lcRequestRow {
	e.t.Helper()
	var r lcRequestRow
	e.waitFor(20*time.Second, fmt.Sprintf("BuildRequest %d %s", brid, what), func() bool {
		r = lcRow(e, brid)
		return cond(r)
	})
	return r
}

// lcSelfServePath is the path self-serve serves a cancel of kind
// ("request" or "build") of id at, under the Sim's self-serve base URL.
func lcSelfServePath(e *env, kind string, id int64) string {
	e.t.Helper()
	u, err := url.Parse(e.sim.SelfServeURL())
	if err != nil {
		e.t.Fatal(err)
	}
	branch := lcBranch[strings.LastIndex(lcBranch, "/")+1:]
	return fmt.Sprintf("%s/%s/%s/%d", u.Path, branch, kind, id)
}

// lcSelfServeCalls returns the self-serve calls answered for path.
func lcSelfServeCalls(e *env, method, path string) []bbsim.SelfServeCall {
	var out []bbsim.SelfServeCall
	for _, c := range e.sim.SelfServeCalls() {
		if c.Method == method && c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// lcBridgeSelfServeCalls returns every self-serve call the bridge made.
func lcBridgeSelfServeCalls(e *env) []bbsim.SelfServeCall {
	var out []bbsim.SelfServeCall
	for _, c := range e.sim.SelfServeCalls() {
		if c.RemoteUser == lcBridgeUser {
			out = append(out, c)
		}
	}
	return out
}

// lcWaitBridgeCancel waits for the bridge's self-serve DELETE of path and
// checks it was sent and accepted as REFERENCE §D describes.
func lcWaitBridgeCancel(e *env, path string) bbsim.SelfServeCall {
	e.t.Helper()
	var calls []bbsim.SelfServeCall
	e.waitFor(20*time.Second, "the bridge's self-serve DELETE "+path, func() bool {
		calls = lcSelfServeCalls(e, http.MethodDelete, path)
		return len(calls) > 0
	})
	c := calls[0]
	if c.RemoteUser != lcBridgeUser || c.Status != http.StatusAccepted {
		e.t.Errorf("self-serve DELETE %s: X-Remote-User %q, answered %d; want %q and 202",
			path, c.RemoteUser, c.Status, lcBridgeUser)
	}
	return c
}

// lcUserCancel cancels through self-serve as a Buildbot user would (the
// sheriff's browser or BuildAPI client asking for JSON), and checks the
// cancel was accepted.
func lcUserCancel(e *env, path string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	base, _ := url.Parse(e.sim.SelfServeURL())
	base.Path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base.String(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Remote-User", lcSheriff)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("self-serve DELETE %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		RequestID int64  `json:"request_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusAccepted || body.Status != "OK" || body.RequestID == 0 {
		e.t.Fatalf("self-serve DELETE %s: %d %+v, want 202 {status: OK, request_id: <job>}", path, resp.StatusCode, body)
	}
}

// lcAllCalls returns the queue calls for taskID with method, whatever
// they were answered.
func lcAllCalls(e *env, taskID, method string) []tcfake.Call {
	var out []tcfake.Call
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID && c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// lcCallsBy counts the task's queue calls per method, whatever they were
// answered, for failure messages.
func lcCallsBy(e *env, taskID string) map[string]int {
	out := map[string]int{}
	for _, c := range e.queue.Calls() {
		if c.TaskID == taskID {
			out[fmt.Sprintf("%s %d", c.Method, c.Status)]++
		}
	}
	return out
}

// lcArtifactNames returns the names of the artifacts of run runID.
func lcArtifactNames(e *env, taskID string, runID int) []string {
	var names []string
	for _, a := range e.queue.Artifacts(taskID, runID) {
		names = append(names, a.Name)
	}
	return names
}

// lcNoCalls fails the test for every listed queue method the task saw.
func lcNoCalls(e *env, taskID string, methods ...string) {
	e.t.Helper()
	for _, m := range methods {
		if n := len(lcAllCalls(e, taskID, m)); n != 0 {
			e.t.Errorf("%s called %d times, want none (calls: %v)", m, n, lcCallsBy(e, taskID))
		}
	}
}

// lcState asks the task's workflow for its state, as an operator would
// with `temporal workflow query --type state`.
func lcState(e *env, taskID string) signals.TaskState {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	v, err := e.temporal.QueryWorkflow(ctx, signals.TaskWorkflowID(taskID), "", signals.QueryState)
	if err != nil {
		e.t.Fatalf("query state of task-%s: %v", taskID, err)
	}
	var st signals.TaskState
	if err := v.Get(&st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// lcWaitStateEvent waits until a line of the task's state query contains
// every one of parts.
func lcWaitStateEvent(e *env, taskID string, parts ...string) {
	e.t.Helper()
	var st signals.TaskState
	e.waitFor(20*time.Second, fmt.Sprintf("task-%s state event %q", taskID, parts), func() bool {
		st = lcState(e, taskID)
		for _, line := range st.LastEvents {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// lcSignalCancel sends the operator's manual cancel, exactly what
// `temporal workflow signal --workflow-id task-<taskId> --name cancel
// --input '{"reason":"..."}'` sends.
func lcSignalCancel(e *env, taskID, reason string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := e.temporal.SignalWorkflow(ctx, "task-"+taskID, "", "cancel", signals.Cancel{Reason: reason}); err != nil {
		e.t.Fatalf("signal cancel to task-%s: %v", taskID, err)
	}
}

// lcRequestCancellation asks Temporal to cancel the task's workflow, as
// the Web UI's Request Cancellation button and `temporal workflow cancel`
// do.
func lcRequestCancellation(e *env, taskID string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := e.temporal.CancelWorkflow(ctx, signals.TaskWorkflowID(taskID), ""); err != nil {
		e.t.Fatalf("request cancellation of task-%s: %v", taskID, err)
	}
}

// lcWaitWorkflowCanceled waits until the task's workflow closed as
// Canceled, which is how it answers a cancel request it carried out.
func lcWaitWorkflowCanceled(e *env, taskID string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	err := e.temporal.GetWorkflow(ctx, signals.TaskWorkflowID(taskID), "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		e.t.Fatalf("workflow task-%s closed with %v, want Canceled", taskID, err)
	}
}

// lcRequireCancelledState checks what an operator sees of a task cancelled
// by hand: the state query's phase and the TaskState search attribute say
// cancelled.
func lcRequireCancelledState(e *env, taskID string) {
	e.t.Helper()
	if st := lcState(e, taskID); st.Phase != signals.PhaseCancelled {
		e.t.Errorf("state query phase %q, want %q (last events %q)", st.Phase, signals.PhaseCancelled, st.LastEvents)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	desc, err := e.temporal.DescribeWorkflowExecution(ctx, signals.TaskWorkflowID(taskID), "")
	if err != nil {
		e.t.Fatalf("describe task-%s: %v", taskID, err)
	}
	got := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[signals.AttrTaskState.GetName()]
	var state string
	if err := converter.GetDefaultDataConverter().FromPayload(got, &state); err != nil || state != signals.PhaseCancelled {
		e.t.Errorf("TaskState search attribute %q (%v), want %q", state, err, signals.PhaseCancelled)
	}
}

// lcPublishTaskException publishes a task-exception message for run runID
// of the task, shaped as the queue publishes it (REFERENCE §A Pulse), with
// the run's reasonResolved set to reason, or absent when reason is nil.
func lcPublishTaskException(e *env, taskID string, runID int, reason *string) {
	e.t.Helper()
	st := e.status(taskID)
	raw, err := json.Marshal(st)
	if err != nil {
		e.t.Fatal(err)
	}
	var status map[string]any
	if err := json.Unmarshal(raw, &status); err != nil {
		e.t.Fatal(err)
	}
	runs, _ := status["runs"].([]any)
	if runID >= len(runs) {
		e.t.Fatalf("task %s has no run %d", taskID, runID)
	}
	for _, r := range runs {
		run := r.(map[string]any)
		for k, v := range run {
			// Times a run does not have are absent, not year 0001.
			if s, ok := v.(string); ok && strings.HasPrefix(s, "0001-") {
				delete(run, k)
			}
		}
	}
	run := runs[runID].(map[string]any)
	run["state"] = "exception"
	delete(run, "reasonResolved")
	if reason != nil {
		run["reasonResolved"] = *reason
	}
	status["state"] = "exception"
	body, err := json.Marshal(map[string]any{
		"version":     1,
		"status":      status,
		"runId":       runID,
		"task":        map[string]any{"tags": map[string]any{}},
		"workerGroup": workerGroup,
		"workerId":    workerID,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	key := strings.Join([]string{"primary", taskID, fmt.Sprint(runID), workerGroup, workerID,
		st.ProvisionerID, st.WorkerType, st.SchedulerID, st.TaskGroupID, "_"}, ".")
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	pub, err := pulse.DialPublisher(ctx, string(e.cfg.PulseURL))
	if err != nil {
		e.t.Fatalf("dial Pulse: %v", err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, e.bindings().TaskException.Exchange, key, body); err != nil {
		e.t.Fatalf("publish task-exception: %v", err)
	}
}

// lcLoseTaskExceptions unbinds the bridge's task-exception queue, so the
// queue's task-exception messages are lost from now on, as Pulse may drop
// timeout-generated messages (REFERENCE §A).
func lcLoseTaskExceptions(e *env) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	ch, conn := e.pulseChannel(ctx, "e2e-unbind")
	defer conn.Close()
	b := e.bindings().TaskException
	if err := ch.QueueUnbind(b.Queue, b.RoutingKey, b.Exchange, amqp.Table{}); err != nil {
		e.t.Fatalf("unbind %s from %s: %v", b.Queue, b.Exchange, err)
	}
}

// lcStrPtr is &s.
func lcStrPtr(s string) *string { return &s }
