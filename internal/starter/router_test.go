package starter_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
	"github.com/bbbridge/buildbot-bridge/signals"
)

const (
	taskA  = "fN1SbArXTPSVFNUvaOlinQ"
	taskB  = "c2eTWLkLQ_6CW6kBtVxTrw"
	master = "buildbot-master01.bb.releng.use1.mozilla.com:/builds/buildbot/build1/master"
)

var timing = signals.Timing{ReclaimLead: 300 * time.Second, FinishedGrace: 5 * time.Second, CheckInterval: time.Second}

func newRouter(t *testing.T, tc *fakeTemporal, db starter.SchedulerDB) *starter.Router {
	t.Helper()
	r, err := starter.New(tc, db, starter.Options{TaskQueue: "buildbot-bridge", Timing: timing, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pendingBody(taskID string, runID int) []byte {
	runs := make([]string, runID+1)
	for i := range runs {
		state, reason := "exception", `,"reasonResolved":"worker-shutdown"`
		if i == runID {
			state, reason = "pending", ""
		}
		runs[i] = fmt.Sprintf(`{"runId":%d,"state":%q,"reasonCreated":"scheduled","scheduled":"2017-10-03T16:11:15.012Z"%s}`, i, state, reason)
	}
	return fmt.Appendf(nil, `{"version":1,"status":{"taskId":%q,"provisionerId":"buildbot-bridge","workerType":"buildbot-bridge",
		"schedulerId":"-","taskGroupId":%q,"deadline":"2017-10-04T16:11:14.000Z","expires":"2018-10-04T16:11:14.000Z",
		"retriesLeft":5,"state":"pending","runs":[%s]},"runId":%d,"task":{"tags":{}}}`, taskID, taskID, strings.Join(runs, ","), runID)
}

func exceptionBody(taskID, reason string) []byte {
	return fmt.Appendf(nil, `{"version":1,"status":{"taskId":%q,"provisionerId":"buildbot-bridge","workerType":"buildbot-bridge",
		"schedulerId":"-","taskGroupId":%q,"deadline":"2017-10-04T16:11:14.000Z","expires":"2018-10-04T16:11:14.000Z",
		"retriesLeft":5,"state":"exception","runs":[{"runId":0,"state":"exception","reasonCreated":"scheduled",
		"reasonResolved":%q,"scheduled":"2017-10-03T16:11:15.012Z"}]},"runId":0,"task":{"tags":{}}}`, taskID, taskID, reason)
}

func startedBody(taskIDProperty string, brids ...int64) []byte {
	props := `["buildername","WINNT 5.2 mozilla-beta build","Builder"],["product","firefox","bbb"]`
	if taskIDProperty != "" {
		props += fmt.Sprintf(`,["taskId",%q,"bbb"]`, taskIDProperty)
	}
	ids, _ := json.Marshal(brids)
	return fmt.Appendf(nil, `{"payload":{"build":{"builderName":"WINNT 5.2 mozilla-beta build","number":42,
		"properties":[%s],"results":null,"slave":"b-2008-ix-0042","steps":[],"currentStep":null},"request_ids":%s},
		"_meta":{"master_name":%q,"master_incarnation":"pid1-boot2","message_id":1,"exchange":"exchange/build",
		"routing_key":"build.WINNT_5_2_mozilla-beta_build.42.started","serializer":"json","sent":"2017-10-03T16:11:16+00:00"}}`,
		props, ids, master)
}

func logUploadedBody(results int, brids ...int64) []byte {
	ids, _ := json.Marshal(brids)
	return fmt.Appendf(nil, `{"payload":{"build":{"builderName":"WINNT 5.2 mozilla-beta build","number":42,"results":%d,
		"properties":[["buildername","WINNT 5.2 mozilla-beta build","Builder"],
		["log_url","http://ftp.example/build42.txt.gz","postrun.py"],["product","firefox","bbb"],
		["request_ids",%s,"postrun.py"],["taskId",%q,"bbb"]]}},
		"_meta":{"master_name":%q,"master_incarnation":"pid1-boot2","message_id":2,"exchange":"exchange/build",
		"routing_key":"build.WINNT_5_2_mozilla-beta_build.42.log_uploaded","serializer":"json","sent":"2017-10-03T17:00:00+00:00"}}`,
		results, ids, taskA, master)
}

func msg(queue, key string, body []byte) pulse.Message {
	return pulse.Message{Queue: queue, Exchange: "x", RoutingKey: key, Body: body}
}

func TestTaskPendingSignalsWithStart(t *testing.T) {
	tc := newFakeTemporal()
	r := newRouter(t, tc, sqliteDB(t))
	if err := r.HandleTaskPending(ctxFor(t), msg("q", "primary."+taskA, pendingBody(taskA, 0))); err != nil {
		t.Fatalf("HandleTaskPending: %v", err)
	}
	calls := tc.recorded()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[0]
	if c.Kind != "signalWithStart" || c.WorkflowID != "task-"+taskA || c.Signal != "task-pending" {
		t.Errorf("call %s %s %s, want signalWithStart task-%s task-pending", c.Kind, c.WorkflowID, c.Signal, taskA)
	}
	if want := (signals.TaskPending{EventID: "pending:0", TaskID: taskA, RunID: 0}); c.Arg != want {
		t.Errorf("signal %+v, want %+v", c.Arg, want)
	}
	if c.Workflow != "TaskWorkflow" {
		t.Errorf("workflow type %v", c.Workflow)
	}
	if c.Options.ID != "task-"+taskA || c.Options.TaskQueue != "buildbot-bridge" {
		t.Errorf("options ID %q task queue %q", c.Options.ID, c.Options.TaskQueue)
	}
	// A rerun of a resolved task needs a new lifecycle (DESIGN §3).
	if c.Options.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE ||
		c.Options.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
		t.Errorf("reuse %v conflict %v", c.Options.WorkflowIDReusePolicy, c.Options.WorkflowIDConflictPolicy)
	}
	want := []any{signals.TaskStart{TaskID: taskA, Timing: timing}, nil}
	if !reflect.DeepEqual(c.Args, want) {
		t.Errorf("workflow args %#v, want %#v", c.Args, want)
	}
}

func TestTaskPendingErrors(t *testing.T) {
	tests := []struct {
		name       string
		fail       error
		body       []byte
		wantPoison bool
		wantNil    bool
	}{
		{"undecodable message", nil, []byte(`{"version":1}`), true, false},
		{"Temporal unavailable", serviceerror.NewUnavailable("connection refused"), pendingBody(taskA, 1), false, false},
		{"namespace not found (an operator fixes the config)", serviceerror.NewNamespaceNotFound("bbb"), pendingBody(taskA, 1), false, false},
		{"request refused as invalid", serviceerror.NewInvalidArgument("bad"), pendingBody(taskA, 1), true, false},
		{"already started is final", serviceerror.NewWorkflowExecutionAlreadyStarted("exists", "", ""), pendingBody(taskA, 1), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newFakeTemporal()
			tc.fail = tt.fail
			r := newRouter(t, tc, sqliteDB(t))
			err := r.HandleTaskPending(ctxFor(t), msg("q", "k", tt.body))
			switch {
			case tt.wantNil && err != nil:
				t.Errorf("got %v, want the message acknowledged", err)
			case !tt.wantNil && err == nil:
				t.Error("got nil, want an error")
			case !tt.wantNil && pulse.IsPoison(err) != tt.wantPoison:
				t.Errorf("poison %v for %v, want %v", pulse.IsPoison(err), err, tt.wantPoison)
			}
		})
	}
}

func TestTaskExceptionSignalsOpenWorkflow(t *testing.T) {
	tc := newFakeTemporal()
	tc.open["task-"+taskA] = true
	r := newRouter(t, tc, sqliteDB(t))
	if err := r.HandleTaskException(ctxFor(t), msg("q", "k", exceptionBody(taskA, "canceled"))); err != nil {
		t.Fatal(err)
	}
	// No workflow for B: nothing to cancel, acknowledged.
	if err := r.HandleTaskException(ctxFor(t), msg("q", "k", exceptionBody(taskB, "deadline-exceeded"))); err != nil {
		t.Fatalf("NotFound was not final: %v", err)
	}
	calls := tc.recorded()
	want := []call{{Kind: "signal", WorkflowID: "task-" + taskA, Signal: "task-exception",
		Arg: signals.TaskException{EventID: "exception:0:canceled", TaskID: taskA, RunID: 0, Reason: "canceled"}}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %+v\nwant %+v", calls, want)
	}
}

func TestStartedSignalsEveryRequestOfAMergedBuild(t *testing.T) {
	for _, dbc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"mariadb", testenv.MariaDBURL}} {
		t.Run(dbc.name, func(t *testing.T) {
			db := schedulerDB(t, dbc.url(t))
			a := injected(t, db, taskA)
			b := injected(t, db, taskB)
			// Treeherder's request for some task: a taskId external id but
			// not the bridge's reason, so not ours.
			foreign := foreignRequest(t, db, "taskId:Ew3Tb9D0S3y1cSjKaR6HYw", "Triggered by Treeherder")
			tc := newFakeTemporal()
			tc.open["task-"+taskA], tc.open["task-"+taskB] = true, true
			r := newRouter(t, tc, db)

			// Only the first request's taskId property reached the build.
			if err := r.HandleStarted(ctxFor(t), msg("q", "k", startedBody(taskA, a, b, foreign))); err != nil {
				t.Fatal(err)
			}
			want := []call{
				{Kind: "signal", WorkflowID: "task-" + taskA, Signal: "build-started", Arg: signals.BuildStarted{
					EventID: fmt.Sprintf("started:%d:%s:42", a, master), TaskID: taskA, BuildRequestID: a,
					BuilderName: "WINNT 5.2 mozilla-beta build", Master: master, BuildNumber: 42}},
				{Kind: "signal", WorkflowID: "task-" + taskB, Signal: "build-started", Arg: signals.BuildStarted{
					EventID: fmt.Sprintf("started:%d:%s:42", b, master), TaskID: taskB, BuildRequestID: b,
					BuilderName: "WINNT 5.2 mozilla-beta build", Master: master, BuildNumber: 42}},
			}
			if calls := tc.recorded(); !reflect.DeepEqual(calls, want) {
				t.Errorf("calls %+v\nwant %+v", calls, want)
			}
		})
	}
}

func TestStartedWithoutTaskIDPropertyIsIgnored(t *testing.T) {
	db := sqliteDB(t)
	a := injected(t, db, taskA)
	tc := newFakeTemporal()
	tc.open["task-"+taskA] = true
	r := newRouter(t, tc, db)
	if err := r.HandleStarted(ctxFor(t), msg("q", "k", startedBody("", a))); err != nil {
		t.Fatal(err)
	}
	if calls := tc.recorded(); len(calls) != 0 {
		t.Errorf("signalled %+v for a build without a taskId property", calls)
	}
}

func TestLogUploadedSignalsFinishedWithoutTaskIDOnMergedRequests(t *testing.T) {
	db := sqliteDB(t)
	a := injected(t, db, taskA)
	b := injected(t, db, taskB)
	tc := newFakeTemporal()
	tc.open["task-"+taskA], tc.open["task-"+taskB] = true, true
	r := newRouter(t, tc, db)
	if err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", logUploadedBody(signals.ResultWarnings, a, b))); err != nil {
		t.Fatal(err)
	}
	calls := tc.recorded()
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	for i, want := range []struct {
		task string
		brid int64
	}{{taskA, a}, {taskB, b}} {
		c := calls[i]
		sig, ok := c.Arg.(signals.BuildFinished)
		if !ok || c.Kind != "signal" || c.WorkflowID != "task-"+want.task || c.Signal != "build-finished" {
			t.Fatalf("call %d: %+v", i, c)
		}
		if sig.EventID != fmt.Sprintf("finished:%d:%s:42", want.brid, master) || sig.TaskID != want.task ||
			sig.BuildRequestID != want.brid || sig.Results != 1 || sig.LogURL != "http://ftp.example/build42.txt.gz" {
			t.Errorf("call %d signal %+v", i, sig)
		}
		if p := sig.Properties["product"]; p != [2]any{"firefox", "bbb"} {
			t.Errorf("call %d product property %v", i, p)
		}
	}
}

func TestBuildEventForAFinishedTaskIsDropped(t *testing.T) {
	db := sqliteDB(t)
	a := injected(t, db, taskA) // has a bbb_tasks row: this bridge carried it
	tc := newFakeTemporal()
	tc.closed["task-"+taskA] = true
	r := newRouter(t, tc, db)
	if err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", logUploadedBody(0, a))); err != nil {
		t.Fatalf("NotFound for one of ours was not final: %v", err)
	}
	if calls := tc.recorded(); len(calls) != 0 {
		t.Errorf("a finished task got %+v", calls)
	}
}

func TestBuildEventForAPreviousBridgesRequestAdoptsTheTask(t *testing.T) {
	db := sqliteDB(t)
	prev := previousBridgeRequest(t, db, taskB)
	tc := newFakeTemporal()
	r := newRouter(t, tc, db)
	if err := r.HandleStarted(ctxFor(t), msg("q", "k", startedBody(taskB, prev))); err != nil {
		t.Fatal(err)
	}
	calls := tc.recorded()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[0]
	if c.Kind != "signalWithStart" || c.WorkflowID != "task-"+taskB || c.Signal != "build-started" || c.Workflow != "TaskWorkflow" {
		t.Errorf("call %+v", c)
	}
	if sig, _ := c.Arg.(signals.BuildStarted); sig.BuildRequestID != prev || sig.TaskID != taskB {
		t.Errorf("signal %+v", c.Arg)
	}
	wantArgs := []any{signals.TaskStart{TaskID: taskB, Adopt: &signals.Adoption{BuildRequestID: prev}, Timing: timing}, nil}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("workflow args %#v, want %#v", c.Args, wantArgs)
	}
	if c.Options.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE || c.Options.TaskQueue != "buildbot-bridge" {
		t.Errorf("options %+v", c.Options)
	}

	// Its finish reaches the adopted workflow with a plain signal.
	if err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", logUploadedBody(0, prev))); err != nil {
		t.Fatal(err)
	}
	if calls := tc.recorded(); len(calls) != 2 || calls[1].Kind != "signal" || calls[1].Signal != "build-finished" {
		t.Errorf("calls after the finish %+v", calls)
	}
}

func TestLateEventForAnAdoptedTaskDoesNotAdoptAgain(t *testing.T) {
	db := sqliteDB(t)
	prev := previousBridgeRequest(t, db, taskB)
	tc := newFakeTemporal()
	tc.closed["task-"+taskB] = true // adopted once, and over
	r := newRouter(t, tc, db)
	if err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", logUploadedBody(0, prev))); err != nil {
		t.Fatalf("AlreadyStarted was not final: %v", err)
	}
	if calls := tc.recorded(); len(calls) != 0 {
		t.Errorf("started %+v", calls)
	}
}

func TestBuildEventsErrors(t *testing.T) {
	t.Run("undecodable log_uploaded is poison", func(t *testing.T) {
		r := newRouter(t, newFakeTemporal(), sqliteDB(t))
		err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", []byte(`{"payload":{"build":{"builderName":"b","number":1,"results":0,"properties":[]}},"_meta":{"master_name":"m"}}`)))
		if !pulse.IsPoison(err) {
			t.Errorf("got %v, want poison (no request_ids property)", err)
		}
	})
	t.Run("scheduler DB down is transient", func(t *testing.T) {
		db := sqliteDB(t)
		a := injected(t, db, taskA)
		r := newRouter(t, newFakeTemporal(), db)
		db.Close()
		err := r.HandleStarted(ctxFor(t), msg("q", "k", startedBody(taskA, a)))
		if err == nil || pulse.IsPoison(err) {
			t.Errorf("got %v, want a transient error", err)
		}
	})
	t.Run("Temporal unavailable for one request is transient", func(t *testing.T) {
		db := sqliteDB(t)
		a := injected(t, db, taskA)
		tc := newFakeTemporal()
		tc.fail = serviceerror.NewUnavailable("frontend down")
		r := newRouter(t, tc, db)
		err := r.HandleLogUploaded(ctxFor(t), msg("q", "k", logUploadedBody(0, a)))
		if err == nil || pulse.IsPoison(err) {
			t.Errorf("got %v, want a transient error", err)
		}
	})
	t.Run("requests that are not ours are acknowledged", func(t *testing.T) {
		db := sqliteDB(t)
		foreign := foreignRequest(t, db, "", "Self-serve: Rebuilt by someone")
		tc := newFakeTemporal()
		r := newRouter(t, tc, db)
		if err := r.HandleStarted(ctxFor(t), msg("q", "k", startedBody(taskA, foreign, 999999))); err != nil {
			t.Fatal(err)
		}
		if calls := tc.recorded(); len(calls) != 0 {
			t.Errorf("signalled %+v", calls)
		}
	})
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	db := sqliteDB(t)
	if _, err := starter.New(newFakeTemporal(), db, starter.Options{}); err == nil {
		t.Error("accepted no task queue")
	}
	if _, err := starter.New(nil, db, starter.Options{TaskQueue: "q"}); err == nil {
		t.Error("accepted no Temporal client")
	}
}
