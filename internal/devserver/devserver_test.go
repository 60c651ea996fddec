package devserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/internal/devserver"
)

// upsertWorkflow does what the task workflow does first: it makes itself
// findable by TaskId.
func upsertWorkflow(ctx workflow.Context, taskID string) (string, error) {
	key := temporal.NewSearchAttributeKeyKeyword("TaskId")
	if err := workflow.UpsertTypedSearchAttributes(ctx, key.ValueSet(taskID)); err != nil {
		return "", err
	}
	return "resolved " + taskID, nil
}

// TestStartRunRestart starts the dev server in an empty folder, runs a
// workflow that upserts TaskId, finds it through the Web UI's API, then
// stops and starts the server again on the same folder and reads the
// workflow's history back.
func TestStartRunRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	began := time.Now()
	srv := start(t, ctx, dir)
	t.Logf("cold start (schema, namespace, frontend, UI 200): %s", time.Since(began).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(dir, "temporal.db")); err != nil {
		t.Errorf("history file: %v", err)
	}
	if !strings.HasPrefix(srv.UIURL(), "http://127.0.0.1:") || !strings.HasPrefix(srv.FrontendAddr(), "127.0.0.1:") {
		t.Errorf("addresses: UI %s, frontend %s; want loopback", srv.UIURL(), srv.FrontendAddr())
	}

	c := dial(t, srv)
	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]enumspb.IndexedValueType{
		"TaskId":         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"BuilderName":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"TaskState":      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"BuildRequestId": enumspb.INDEXED_VALUE_TYPE_INT,
	}
	for name, typ := range want {
		if got := attrs.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s: %s, want %s", name, got, typ)
		}
	}

	const taskID = "fQ3xL9aBTe2m_devserver"
	w := worker.New(c, "devserver-test", worker.Options{})
	w.RegisterWorkflowWithOptions(upsertWorkflow, workflow.RegisterOptions{Name: "UpsertWorkflow"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "task-" + taskID, TaskQueue: "devserver-test"}, "UpsertWorkflow", taskID)
	if err != nil {
		t.Fatal(err)
	}
	var result string
	if err := run.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	w.Stop()

	if code, body := get(t, ctx, srv.UIURL()+"/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET / = %d, body starts %.80q", code, body)
	}
	if ids := uiWorkflowIDs(t, ctx, srv, `TaskId="`+taskID+`"`); len(ids) != 1 || ids[0] != "task-"+taskID {
		t.Errorf("UI API query TaskId=%q found %v, want [task-%s]", taskID, ids, taskID)
	}
	c.Close()
	srv.Stop()

	began = time.Now()
	srv = start(t, ctx, dir)
	t.Logf("restart on the same folder: %s", time.Since(began).Round(time.Millisecond))
	c = dial(t, srv)
	var again string
	if err := c.GetWorkflow(ctx, "task-"+taskID, run.GetRunID()).Get(ctx, &again); err != nil || again != result {
		t.Errorf("after restart, workflow result = %q, %v; want %q", again, err, result)
	}
	iter := c.GetWorkflowHistory(ctx, "task-"+taskID, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []enumspb.EventType
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev.GetEventType())
	}
	if len(events) < 2 || events[0] != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED ||
		events[len(events)-1] != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Errorf("history after restart: %v", events)
	}
	if ids := uiWorkflowIDs(t, ctx, srv, `TaskId="`+taskID+`"`); len(ids) != 1 {
		t.Errorf("after restart, UI API query found %v", ids)
	}
}

func start(t *testing.T, ctx context.Context, dir string) *devserver.Server {
	t.Helper()
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:      dir,
		FrontendAddr: "127.0.0.1:0",
		UIAddr:       "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func dial(t *testing.T, srv *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddr(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func get(t *testing.T, ctx context.Context, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// uiWorkflowIDs lists workflows through the Web UI's HTTP API, as the
// browser's list filter does; visibility is eventually consistent, so it
// asks again for a few seconds while nothing is found.
func uiWorkflowIDs(t *testing.T, ctx context.Context, srv *devserver.Server, query string) []string {
	t.Helper()
	u := srv.UIURL() + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape(query)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get(t, ctx, u)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d: %.200s", u, code, body)
		}
		var list struct {
			Executions []struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
				} `json:"execution"`
			} `json:"executions"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("UI API reply: %v: %.200s", err, body)
		}
		var ids []string
		for _, e := range list.Executions {
			ids = append(ids, e.Execution.WorkflowID)
		}
		if len(ids) > 0 || time.Now().After(deadline) {
			return ids
		}
		time.Sleep(200 * time.Millisecond)
	}
}
