//go:build clitest

// The manual cancel of README "Operating it", done with the real temporal
// CLI against the demo's server. It needs the CLI binary, which takes
// minutes to build the first time, so it is not part of `make test`:
// `bash scripts/cli-cancel-test.sh` installs the CLI and runs it.

package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// TestCLICancel starts the demo and cancels two running tasks with the
// README's exact commands, `temporal workflow signal --name cancel` and
// `temporal workflow cancel`, checking both sides each time. Then
// `temporal workflow list --query 'TaskId="..."'` must find the workflow.
func TestCLICancel(t *testing.T) {
	temporalCLI := findTemporalCLI(t)
	dir := t.TempDir()
	amqpURL := testenv.RabbitURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	o := testOptions(dir, amqpURL)
	out := &syncBuffer{}
	o.Out = out
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, o) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo stopped with: %v", err)
			}
		case <-time.After(90 * time.Second):
			t.Error("demo did not stop within 90s")
		}
	}()
	waitFor(t, ctx, done, out, "the demo to be up", func() bool { return strings.Contains(out.String(), "everything is up") })
	st := readState(t, dir)

	// README "Operating it", word for word, with the demo's address: the
	// cancel signal, and the cancel request (what the Web UI's Request
	// Cancellation button sends), which must do the same.
	var taskID string
	for _, how := range [][]string{
		{"workflow", "signal", "--name", "cancel", "--input", `{"reason":"cli test"}`},
		{"workflow", "cancel"},
	} {
		taskID = cliCancelOne(t, ctx, o, st, dir, temporalCLI, how)
	}

	list := []string{"workflow", "list", "--query", `TaskId="` + taskID + `"`, "--address", st.TemporalAddress}
	var listed string
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := exec.CommandContext(ctx, temporalCLI, list...).CombinedOutput()
		listed = string(b)
		if err == nil && strings.Contains(listed, "task-"+taskID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporal %s did not find task-%s: %v\n%s", strings.Join(list, " "), taskID, err, listed)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("temporal %s:\n%s", strings.Join(list, " "), listed)
}

// cliCancelOne creates a task whose build runs until stopped, cancels it
// with `temporal <how> --workflow-id task-<id>`, and checks both sides:
// the Taskcluster run ends exception/canceled and the BuildRequest
// completes CANCELLED (6). It returns the task's id.
func cliCancelOne(t *testing.T, ctx context.Context, o options, st *demoState, dir, temporalCLI string, how []string) string {
	t.Helper()
	created := &syncBuffer{}
	co := o
	co.Out = created
	if err := createTaskCommand(ctx, co, builderLong); err != nil {
		t.Fatalf("-create-task: %v", err)
	}
	m := regexp.MustCompile(`created task (\S+) for builder `).FindStringSubmatch(created.String())
	if m == nil {
		t.Fatalf("-create-task printed:\n%s", created)
	}
	taskID := m[1]
	q := queueClient(ctx, st.QueueRootURL, st.Scheduler)
	waitRuns(t, ctx, q, taskID, func(runs []string) bool { return len(runs) > 0 && runs[len(runs)-1] == "running/" })

	began := time.Now()
	args := append(append([]string{}, how...), "--workflow-id", "task-"+taskID, "--address", st.TemporalAddress)
	cmd := exec.CommandContext(ctx, temporalCLI, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	waitRuns(t, ctx, q, taskID, func(runs []string) bool { return len(runs) == 1 && runs[0] == "exception/canceled" })
	if got := waitRequestResults(t, ctx, dir, taskID); got != 6 {
		t.Errorf("%s: BuildRequest of the cancelled task: results %d, want 6 (CANCELLED)", strings.Join(how, " "), got)
	}
	t.Logf("cancelled on both sides %s after temporal %s", time.Since(began).Round(time.Millisecond), strings.Join(how, " "))
	return taskID
}

// findTemporalCLI finds the temporal CLI on PATH or where `go install`
// puts it.
func findTemporalCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the temporal CLI is not installed: run `bash scripts/cli-cancel-test.sh`, which installs it")
	return ""
}

func waitFor(t *testing.T, ctx context.Context, done <-chan error, out *syncBuffer, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		select {
		case err := <-done:
			t.Fatalf("demo stopped while waiting for %s: %v\n%s", what, err, out)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v\n%s", what, ctx.Err(), out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, out)
		}
	}
}

// waitRequestResults waits until the task's BuildRequest is complete in the
// demo's SQLite scheduler DB and returns its results.
func waitRequestResults(t *testing.T, ctx context.Context, dir, taskID string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "scheduler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var results sql.NullInt64
		err := db.QueryRowContext(qctx, `SELECT br.results FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
			WHERE bs.external_idstring = ? AND br.complete = 1`, "taskId:"+taskID).Scan(&results)
		cancel()
		if err == nil {
			return int(results.Int64)
		}
		if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("BuildRequest of %s not complete: %v", taskID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
