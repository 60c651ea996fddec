package starter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// fakeTemporal records the starter's calls and answers them as the server
// does (REFERENCE §E): a signal reaches an open run or fails with NotFound;
// SignalWithStart signals an open run, and otherwise starts one unless the
// reuse policy rejects a closed run with WorkflowExecutionAlreadyStarted.
// It stands in for the client only in these routing tests; the real server
// is exercised end to end by the e2e package.
type fakeTemporal struct {
	mu     sync.Mutex
	calls  []call
	open   map[string]bool
	closed map[string]bool
	fail   error // when set, every call fails with it
	runs   int
}

type call struct {
	Kind       string // "signal" or "signalWithStart"
	WorkflowID string
	Signal     string
	Arg        any
	Options    client.StartWorkflowOptions
	Workflow   any
	Args       []any
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{open: map[string]bool{}, closed: map[string]bool{}}
}

func (f *fakeTemporal) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	if _, ok := ctx.Deadline(); !ok {
		return fmt.Errorf("fake: SignalWorkflow called without a deadline")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.open[workflowID] {
		return serviceerror.NewNotFound("workflow execution already completed")
	}
	f.calls = append(f.calls, call{Kind: "signal", WorkflowID: workflowID, Signal: signalName, Arg: arg})
	return nil
}

func (f *fakeTemporal) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, fmt.Errorf("fake: SignalWithStartWorkflow called without a deadline")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if !f.open[workflowID] && f.closed[workflowID] &&
		options.WorkflowIDReusePolicy == enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already finished", "", "")
	}
	f.calls = append(f.calls, call{Kind: "signalWithStart", WorkflowID: workflowID, Signal: signalName, Arg: signalArg,
		Options: options, Workflow: workflow, Args: workflowArgs})
	f.open[workflowID] = true
	f.runs++
	return fakeRun{id: workflowID, runID: fmt.Sprintf("run-%d", f.runs)}, nil
}

func (f *fakeTemporal) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

type fakeRun struct {
	client.WorkflowRun // only GetID and GetRunID are used
	id, runID          string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return r.runID }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// schedulerDB is a real Buildbot scheduler DB with Buildbot's tables and the
// bridge's bbb_tasks.
func schedulerDB(t *testing.T, url string) *schedulerdb.DB {
	t.Helper()
	ctx := ctxFor(t)
	db, err := schedulerdb.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBridgeTable(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// injected is a BuildRequest this bridge created for taskID.
func injected(t *testing.T, db *schedulerdb.DB, taskID string) int64 {
	t.Helper()
	res, err := db.InjectBuildRequest(ctxFor(t), schedulerdb.Injection{
		TaskID:      taskID,
		BuilderName: "WINNT 5.2 mozilla-beta build",
		Sourcestamp: schedulerdb.Sourcestamp{Branch: "releases/mozilla-beta", Revision: "3b4cb8a5a6a4"},
		Properties:  []schedulerdb.Property{{Name: "product", Value: "firefox"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.BuildRequestID
}

// foreignRequest is a BuildRequest some other system created, with the
// given buildsets.external_idstring and reason.
func foreignRequest(t *testing.T, db *schedulerdb.DB, externalID, reason string) int64 {
	t.Helper()
	ctx := ctxFor(t)
	now := time.Now().Unix()
	exec := func(q string, args ...any) int64 {
		res, err := db.SQL().ExecContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ssid := exec("INSERT INTO sourcestamps (branch, revision) VALUES (?, ?)", "releases/mozilla-beta", "3b4cb8a5a6a4")
	bsid := exec("INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at) VALUES (?, ?, ?, ?)",
		externalID, reason, ssid, now)
	return exec("INSERT INTO buildrequests (buildsetid, buildername, submitted_at) VALUES (?, ?, ?)",
		bsid, "WINNT 5.2 mozilla-beta build", now)
}

// previousBridgeRequest is a BuildRequest the original bridge created: its
// buildset says so, and there is no bbb_tasks row.
func previousBridgeRequest(t *testing.T, db *schedulerdb.DB, taskID string) int64 {
	return foreignRequest(t, db, "taskId:"+taskID, "Created by BBB for task "+taskID)
}

func sqliteDB(t *testing.T) *schedulerdb.DB { return schedulerDB(t, testenv.SQLiteURL(t)) }
