package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
	_ "modernc.org/sqlite"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// wantRuns is how each demo task ends in Taskcluster when nothing
// interrupts it, as "state/reasonResolved" per run (REFERENCE §A, DESIGN
// §4): SUCCESS → completed, FAILURE → failed, RETRY → exception
// worker-shutdown then a new run, an operator's cancel → exception
// canceled, an ignored builder → untouched, a restricted builder without
// its scope → exception malformed-payload.
var wantRuns = map[string][]string{
	"success":   {"completed/completed"},
	"failure":   {"failed/failed"},
	"retry":     {"exception/worker-shutdown", "completed/completed"},
	"cancel":    {"exception/canceled"},
	"ignored":   {"pending/"},
	"malformed": {"exception/malformed-payload"},
}

// TestDemo runs the demo three times on one data folder, against the real
// RabbitMQ: a first run until its tasks have ended; a restart that finds
// them in the Web UI, creates one more task with -create-task and is
// stopped while that task's build runs; and a last run in which that
// task is resolved.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	amqpURL := testenv.RabbitURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Run 1: creates the demo tasks and returns once they all ended.
	// Each run is a new version of the worker, as a restart on changed
	// code is: the tasks of one run are carried on by the next.
	version := func(n string) options {
		o := testOptions(dir, amqpURL)
		o.BuildID = "demo-run-" + n
		return o
	}
	first, out := runUntilTasksEnded(t, ctx, version("1"))
	// Buildbot's side of the cancel: the build was stopped, so its request
	// completed with CANCELLED (6).
	if got := requestResults(t, dir, taskOf(t, first, "cancel")); got != 6 {
		t.Errorf("cancelled task's BuildRequest results = %d, want 6 (CANCELLED)", got)
	}
	if strings.Contains(out, first.Bridge.AccessToken) || strings.Contains(out, first.Scheduler.AccessToken) {
		t.Error("an access token appears in the demo's output")
	}

	// Run 2: a restart; the tasks are found in the Web UI, one more is
	// created, and Ctrl-C comes while its build runs.
	second := startDemo(t, ctx, version("2"))
	st := second.st
	if code, body := get(t, ctx, st.UIURL+"/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("Web UI GET / = %d %.80q", code, body)
	}
	q := queueClient(ctx, st.QueueRootURL, st.Scheduler)
	for _, task := range first.Tasks {
		ids := uiFind(t, ctx, st.UIURL, `TaskId="`+task.TaskID+`"`)
		if !slices.Equal(ids, []string{"task-" + task.TaskID}) {
			t.Errorf("Web UI API: TaskId=%q finds %v", task.TaskID, ids)
		}
		status, err := q.Status(task.TaskID)
		if err != nil {
			t.Fatalf("status of %s after restart: %v", task.TaskID, err)
		}
		if got, want := runsOfStatus(status.Status), wantRuns[task.Kind]; !slices.Equal(got, want) {
			t.Errorf("after restart, task %s (%s) has runs %v, want %v", task.TaskID, task.Kind, got, want)
		}
	}
	if ids := uiFind(t, ctx, st.UIURL, `BuilderName="win64"`); !slices.Equal(ids, []string{"task-" + taskOf(t, first, "failure")}) {
		t.Errorf("Web UI API: BuilderName=\"win64\" finds %v", ids)
	}

	extra, printed := createTaskCmd(t, ctx, second.o, "linux64")
	if !strings.Contains(printed, "/namespaces/default/workflows/task-"+extra) {
		t.Fatalf("-create-task printed:\n%s", printed)
	}
	waitRuns(t, ctx, q, extra, func(runs []string) bool { return len(runs) > 0 && runs[len(runs)-1] == "running/" })

	// A builder the simulated master does not have: as with a real
	// master, nothing would ever build it, so the bridge refuses it.
	unknown, _ := createTaskCmd(t, ctx, second.o, "nosuchbuilder")
	waitRuns(t, ctx, q, unknown, func(runs []string) bool { return slices.Equal(runs, []string{"exception/malformed-payload"}) })
	second.stop(t, "second run")
	if st := readState(t, dir); !slices.Equal(st.Tasks, first.Tasks) {
		t.Errorf("the restart changed the demo tasks: %+v, before %+v", st.Tasks, first.Tasks)
	}

	// Run 3: the task that was building at Ctrl-C is resolved.
	third := startDemo(t, ctx, version("3"))
	q = queueClient(ctx, third.st.QueueRootURL, third.st.Scheduler)
	waitRuns(t, ctx, q, extra, func(runs []string) bool { return len(runs) > 0 && runs[len(runs)-1] == "completed/completed" })
	third.stop(t, "third run")
	if st := readState(t, dir); len(st.Tasks) != len(wantRuns) {
		t.Errorf("demo tasks after the third run: %d, want %d", len(st.Tasks), len(wantRuns))
	}
}

// runUntilTasksEnded runs a first demo on o's data folder until its tasks
// have ended, checks each ended as wantRuns says, and returns demo.json
// and what the demo printed.
func runUntilTasksEnded(t *testing.T, ctx context.Context, o options) (*demoState, string) {
	t.Helper()
	o.KeepGoing = false
	out := &syncBuffer{}
	o.Out = out
	began := time.Now()
	if err := run(ctx, o); err != nil {
		t.Fatalf("first run: %v\n%s%s", err, out, logTail(o.DataDir))
	}
	t.Logf("first run, up to all demo tasks ended: %s", time.Since(began).Round(time.Millisecond))
	first := readState(t, o.DataDir)
	if !first.TasksCreated || len(first.Tasks) != len(wantRuns) {
		t.Fatalf("demo.json after the first run: %+v", first)
	}
	snap := readQueueState(t, o.DataDir)
	for _, task := range first.Tasks {
		got := runsOfSnapshot(t, snap, task.TaskID)
		if want := wantRuns[task.Kind]; !slices.Equal(got, want) {
			t.Errorf("task %s (%s) ended with runs %v, want %v", task.TaskID, task.Kind, got, want)
		}
	}
	return first, out.String()
}

// startedDemo is a demo restarted on a data folder, running until stop.
type startedDemo struct {
	o      options
	st     *demoState
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startDemo runs the demo in the background, as a user restarting it, and
// returns once it says it is resuming and its Web UI answers.
func startDemo(t *testing.T, ctx context.Context, o options) *startedDemo {
	t.Helper()
	d := &startedDemo{o: o, out: &syncBuffer{}, done: make(chan error, 1)}
	d.o.Out = d.out
	var runCtx context.Context
	runCtx, d.cancel = context.WithCancel(ctx)
	began := time.Now()
	go func() { d.done <- run(runCtx, d.o) }()
	d.st = waitUp(t, ctx, o.DataDir, d.done, d.out)
	t.Logf("restart, up to the Web UI and the queue answering: %s", time.Since(began).Round(time.Millisecond))
	return d
}

// stop is Ctrl-C: the demo must stop cleanly, and soon.
func (d *startedDemo) stop(t *testing.T, name string) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("%s stopped with: %v\n%s", name, err, d.out)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not stop within 90s of Ctrl-C", name)
	}
}

// createTaskCmd runs -create-task for builder against the running demo of
// o's data folder and returns the task's id and what the command printed.
func createTaskCmd(t *testing.T, ctx context.Context, o options, builder string) (string, string) {
	t.Helper()
	out := &syncBuffer{}
	o.Out = out
	if err := createTaskCommand(ctx, o, builder); err != nil {
		t.Fatalf("-create-task %s: %v", builder, err)
	}
	m := regexp.MustCompile(`created task (\S+) for builder ` + regexp.QuoteMeta(builder)).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("-create-task printed:\n%s", out)
	}
	return m[1], out.String()
}

func testOptions(dir, amqpURL string) options {
	o := defaultOptions()
	o.DataDir, o.DataFlag = dir, dir
	o.AMQPURL = amqpURL
	o.FrontendAddr, o.UIAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.QueueAddr, o.SelfServeAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.WorkerListen, o.StarterListen = "127.0.0.1:0", "127.0.0.1:0"
	o.ClaimTimeout = 15 * time.Second
	o.BuildDuration = 1500 * time.Millisecond
	o.CancelAfter = time.Second
	o.ReflectorInterval = time.Second
	o.FinishedGrace = 5 * time.Second
	o.SnapshotInterval = time.Second
	return o
}

// waitUp waits until a restarted demo says it is up and resuming, and its
// Web UI answers.
func waitUp(t *testing.T, ctx context.Context, dir string, done <-chan error, out *syncBuffer) *demoState {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("demo stopped while starting: %v\n%s", err, out)
		default:
		}
		if strings.Contains(out.String(), "resuming:") {
			st := readState(t, dir)
			if code, _ := get(t, ctx, st.UIURL+"/"); code == http.StatusOK {
				return st
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("demo not up within 90s:\n%s", out)
	return nil
}

func waitRuns(t *testing.T, ctx context.Context, q *tcqueue.Queue, taskID string, ok func([]string) bool) {
	t.Helper()
	var runs []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		status, err := q.Status(taskID)
		if err == nil {
			runs = runsOfStatus(status.Status)
			if ok(runs) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("task %s: runs %v, still not what the test waits for", taskID, runs)
}

func runsOfStatus(s tcqueue.TaskStatusStructure) []string {
	var out []string
	for _, r := range s.Runs {
		out = append(out, r.State+"/"+r.ReasonResolved)
	}
	return out
}

func runsOfSnapshot(t *testing.T, snap tcfake.Snapshot, taskID string) []string {
	t.Helper()
	for _, task := range snap.Tasks {
		if task.TaskID == taskID {
			var out []string
			for _, r := range task.Runs {
				out = append(out, r.State+"/"+r.ReasonResolved)
			}
			return out
		}
	}
	t.Fatalf("task %s not in %s", taskID, queueStateFile)
	return nil
}

func taskOf(t *testing.T, st *demoState, kind string) string {
	t.Helper()
	for _, task := range st.Tasks {
		if task.Kind == kind {
			return task.TaskID
		}
	}
	t.Fatalf("no demo task of kind %s", kind)
	return ""
}

func readState(t *testing.T, dir string) *demoState {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st demoState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func readQueueState(t *testing.T, dir string) tcfake.Snapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tcqueue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var snap tcfake.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// requestResults reads the results of the task's BuildRequest from the
// demo's SQLite scheduler DB, with Buildbot's own columns.
func requestResults(t *testing.T, dir, taskID string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "scheduler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var results sql.NullInt64
	err = db.QueryRowContext(ctx, `SELECT br.results FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		WHERE bs.external_idstring = ? AND br.complete = 1`, "taskId:"+taskID).Scan(&results)
	if err != nil {
		t.Fatalf("BuildRequest of %s: %v", taskID, err)
	}
	return int(results.Int64)
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
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// uiFind lists workflow IDs through the Web UI's HTTP API, as its list
// filter does; visibility lags a little, so it asks again for a while.
func uiFind(t *testing.T, ctx context.Context, uiURL, query string) []string {
	t.Helper()
	u := uiURL + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape(query)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get(t, ctx, u)
		var list struct {
			Executions []struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
				} `json:"execution"`
			} `json:"executions"`
		}
		var ids []string
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				t.Fatalf("UI API reply: %v: %.200s", err, body)
			}
			for _, e := range list.Executions {
				ids = append(ids, e.Execution.WorkflowID)
			}
		}
		if len(ids) > 0 || time.Now().After(deadline) {
			return ids
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logTail(dir string) string {
	data, _ := os.ReadFile(filepath.Join(dir, logFile))
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return "\n--- demo.log (tail) ---\n" + string(data)
}

// syncBuffer is a bytes.Buffer safe for the demo's goroutines.
type syncBuffer = testenv.SyncBuffer
