package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// cancelReason is what the demo's own cancel signal says.
const cancelReason = "demo: cancelled by hand after a few seconds"

// createDemoTasks creates one task of each demo kind, as a Taskcluster
// user would, and records them so that a restart does not create more.
func (s *stack) createDemoTasks(ctx context.Context) error {
	q := queueClient(ctx, s.queue.RootURL(), s.state.Scheduler)
	for _, k := range demoKinds {
		id, err := createTask(q, k.builder, s.state.BuildProperties[k.builder])
		if err != nil {
			return fmt.Errorf("demo task %s: %w", k.kind, err)
		}
		s.state.Tasks = append(s.state.Tasks, demoTask{Kind: k.kind, Builder: k.builder, TaskID: id})
	}
	s.state.TasksCreated = true
	if err := s.state.save(s.o.DataDir); err != nil {
		return err
	}
	progress(s.out, "created %d demo tasks in Taskcluster", len(s.state.Tasks))
	return nil
}

func (s *stack) workflowURL(taskID string) string {
	return s.srv.UIURL() + "/namespaces/" + namespace + "/workflows/" + signals.TaskWorkflowID(taskID)
}

// printGuide lists the demo tasks with their Web UI links and the commands
// a user can try next.
func (s *stack) printGuide() {
	lines := []string{"", "Demo tasks (open a link to follow the task's workflow in the Web UI):"}
	for _, t := range s.state.Tasks {
		k, _ := kindOf(t.Kind)
		lines = append(lines, fmt.Sprintf("  %-9s %-16s %s", t.Kind, t.Builder, s.workflowURL(t.TaskID)),
			fmt.Sprintf("  %-9s %-16s %s; expect: %s", "", "", k.shows, runsString(k.runs)))
	}
	demoCmd := "go run ./internal/demo"
	if s.o.Buildbot != buildbotSim {
		demoCmd += " -buildbot " + s.o.Buildbot
	}
	if s.o.DataFlag != "" && s.o.DataFlag != defaultDataFlag(s.o.Buildbot) {
		demoCmd += " -data " + s.o.DataFlag
	}
	addr := s.srv.FrontendAddr()
	lines = append(lines, "",
		"Web UI:                 "+s.srv.UIURL()+"  (filter with TaskId=\"<taskId>\", BuilderName=\"linux64\", TaskState=\"running\")")
	if s.master != nil {
		lines = append(lines,
			"Buildbot's REST API:    "+s.master.APIURL()+"api/v2/buildrequests, "+s.master.APIURL()+"api/v2/builds  (no web UI: Debian lacks buildbot-www)")
	}
	lines = append(lines,
		"Create another task:    "+demoCmd+" -create-task linux64",
		"                        (builders: linux64 succeeds, win64 fails, macosx64 retries, linux64-long runs until cancelled;",
		"                        a builder the master does not have ends malformed-payload)",
		"Cancel it from the UI:  the task's page, Request Cancellation (the same as the cancel signal below)",
		"Cancel a task by hand:  temporal workflow signal --workflow-id task-<taskId> --name cancel --input '{\"reason\":\"bad push\"}' --address "+addr,
		"See a task's state:     temporal workflow query --workflow-id task-<taskId> --type state --address "+addr,
		"Stop: Ctrl-C (state is kept; run the demo again to resume)",
		"")
	block(s.out, lines...)
}

// watch narrates every task's Taskcluster state changes, sends the demo's
// cancel signal, saves the queue's state now and then, and returns when ctx
// ends or, without KeepGoing, once every demo task has ended as expected.
func (s *stack) watch(ctx context.Context) error {
	tc, err := temporalclient.Dial(ctx, s.srv.FrontendAddr(), namespace, s.log)
	if err != nil {
		return err
	}
	defer tc.Close()
	w := &watcher{s: s, tc: tc, shown: map[string]string{}, ended: map[string]bool{}, mismatched: map[string]bool{}}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			progress(s.out, "stopping (Ctrl-C again to abandon the clean stop)...")
			return nil
		case <-tick.C:
		}
		for _, p := range s.procs {
			if exited, err := p.Exited(); exited {
				return fmt.Errorf("the bridge %s stopped: %v", p.Name, err)
			}
		}
		snap := s.queue.Snapshot()
		w.narrate(snap)
		if err := w.cancelStep(ctx, snap); err != nil {
			return err
		}
		if time.Since(lastSave) >= s.o.SnapshotInterval {
			if err := saveQueueState(s.o.DataDir, s.queue); err != nil {
				progress(s.out, "saving %s: %v", queueStateFile, err)
			}
			lastSave = time.Now()
		}
		done, err := w.settle(ctx, snap)
		if err != nil {
			if !s.o.KeepGoing {
				return err
			}
			progress(s.out, "%v", err)
		}
		if done && !s.o.KeepGoing {
			return nil
		}
	}
}

// watcher is the state of watch between ticks.
type watcher struct {
	s  *stack
	tc client.Client
	// shown is the last runs line printed per task.
	shown map[string]string
	// runningSince is when the cancel task was first seen running.
	runningSince time.Time
	// ended marks demo tasks reported as ended; settled, that all were.
	ended   map[string]bool
	settled bool
	// mismatched marks closed workflows whose TC runs were not the expected
	// ones at the last look; unexpected counts those reported.
	mismatched map[string]bool
	unexpected int
}

func (w *watcher) label(taskID string, def json.RawMessage) string {
	for _, t := range w.s.state.Tasks {
		if t.TaskID == taskID {
			return t.Kind + ", " + t.Builder
		}
	}
	var d struct {
		Payload struct {
			Buildername string `json:"buildername"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(def, &d)
	return "extra, " + d.Payload.Buildername
}

// narrate prints a line for each task whose runs changed.
func (w *watcher) narrate(snap tcfake.Snapshot) {
	for _, t := range snap.Tasks {
		line := runsString(snapshotRuns(t))
		if w.shown[t.TaskID] == line {
			continue
		}
		w.shown[t.TaskID] = line
		progress(w.s.out, "task %s (%s): %s", t.TaskID, w.label(t.TaskID, t.Definition), line)
	}
}

func snapshotRuns(t tcfake.SnapshotTask) []string {
	out := make([]string, 0, len(t.Runs))
	for _, r := range t.Runs {
		out = append(out, runLabel(r.State, r.ReasonResolved))
	}
	return out
}

func findTask(snap tcfake.Snapshot, taskID string) (tcfake.SnapshotTask, bool) {
	for _, t := range snap.Tasks {
		if t.TaskID == taskID {
			return t, true
		}
	}
	return tcfake.SnapshotTask{}, false
}

// cancelStep sends the cancel signal to the "cancel" task once its build
// has run for CancelAfter, as an operator would with the temporal CLI.
func (w *watcher) cancelStep(ctx context.Context, snap tcfake.Snapshot) error {
	if w.s.state.CancelSent {
		return nil
	}
	var taskID string
	for _, t := range w.s.state.Tasks {
		if t.Kind == "cancel" {
			taskID = t.TaskID
		}
	}
	t, ok := findTask(snap, taskID)
	if !ok || len(t.Runs) == 0 || t.Runs[len(t.Runs)-1].State != "running" {
		return nil
	}
	if w.runningSince.IsZero() {
		w.runningSince = time.Now()
	}
	if time.Since(w.runningSince) < w.s.o.CancelAfter {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := w.tc.SignalWorkflow(sctx, signals.TaskWorkflowID(taskID), "", signals.CancelName, signals.Cancel{Reason: cancelReason})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cancel signal to %s: %w", signals.TaskWorkflowID(taskID), err)
	}
	w.s.state.CancelSent = true
	if err := w.s.state.save(w.s.o.DataDir); err != nil {
		return err
	}
	progress(w.s.out, "sent the cancel signal to task-%s, as this command does:", taskID)
	block(w.s.out, fmt.Sprintf("    temporal workflow signal --workflow-id task-%s --name cancel --input '{\"reason\":%q}' --address %s",
		taskID, cancelReason, w.s.srv.FrontendAddr()))
	return nil
}

// settle reports whether every demo task has ended as expected: its runs
// are the expected ones and its workflow has closed. A task whose workflow
// closed with other runs is an error.
func (w *watcher) settle(ctx context.Context, snap tcfake.Snapshot) (bool, error) {
	if w.settled {
		return true, nil
	}
	var problems []string
	all := true
	for _, t := range w.s.state.Tasks {
		if w.ended[t.TaskID] {
			continue
		}
		k, known := kindOf(t.Kind)
		if !known {
			return false, fmt.Errorf("%s lists a task of unknown kind %q (delete the data folder to start over)", stateFile, t.Kind)
		}
		st, ok := findTask(snap, t.TaskID)
		if !ok {
			return false, fmt.Errorf("demo task %s (%s) is not in the queue: was %s deleted? delete the data folder to start over", t.TaskID, t.Kind, queueStateFile)
		}
		closed, status, err := w.workflowClosed(ctx, t.TaskID)
		if err != nil {
			return false, err
		}
		if !closed {
			all = false
			continue
		}
		// Only the last run is judged: a build in flight at Ctrl-C is rerun
		// by the restarted master, so e.g. the retry task may not show its
		// RETRY run after a restart.
		runs := snapshotRuns(st)
		want := k.runs[len(k.runs)-1]
		if len(runs) == 0 || runs[len(runs)-1] != want {
			// The workflow may close a moment before the last TC call is
			// visible here; judge again on the next tick.
			all = false
			if !w.mismatched[t.TaskID] {
				w.mismatched[t.TaskID] = true
				continue
			}
			problems = append(problems, fmt.Sprintf("task %s (%s): workflow %s with TC runs %s, expected the last to be %s",
				t.TaskID, t.Kind, status, runsString(runs), want))
			// Reported once; with KeepGoing the others are still awaited.
			w.ended[t.TaskID] = true
			w.unexpected++
			continue
		}
		w.ended[t.TaskID] = true
		progress(w.s.out, "demo task %s (%s) ended as expected: %s; workflow %s", t.TaskID, t.Kind, runsString(runs), status)
	}
	if len(problems) > 0 {
		return false, fmt.Errorf("demo tasks ended unexpectedly:\n  %s", strings.Join(problems, "\n  "))
	}
	if !all {
		return false, nil
	}
	w.settled = true
	if w.unexpected > 0 {
		progress(w.s.out, "all %d demo tasks ended, %d of them not as expected (see above and %s)", len(w.s.state.Tasks), w.unexpected, logFile)
		return true, nil
	}
	if w.s.o.KeepGoing {
		progress(w.s.out, "all %d demo tasks ended as expected. The demo keeps running: explore the Web UI at %s, create more tasks, Ctrl-C to stop.",
			len(w.s.state.Tasks), w.s.srv.UIURL())
	} else {
		progress(w.s.out, "all %d demo tasks ended as expected", len(w.s.state.Tasks))
	}
	return true, nil
}

// workflowClosed reports whether the task's workflow has ended, and how.
func (w *watcher) workflowClosed(ctx context.Context, taskID string) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := w.tc.DescribeWorkflowExecution(ctx, signals.TaskWorkflowID(taskID), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, "", nil
	case err != nil:
		if ctx.Err() != nil {
			return false, "", nil
		}
		return false, "", fmt.Errorf("describe %s: %w", signals.TaskWorkflowID(taskID), err)
	}
	status := resp.GetWorkflowExecutionInfo().GetStatus()
	closed := status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && status != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	return closed, strings.ToLower(status.String()), nil
}
