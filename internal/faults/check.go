package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Row is one fault's line of the table.
type Row struct {
	Fault      string
	Tasks      int
	Lost       int // never resolved, or no BuildRequest
	Duplicated int // more than one BuildRequest
	Expired    int // a claim-expired run
	Wrong      int // resolved otherwise than the Buildbot result calls for, or not cancelled in Buildbot
	Other      int // open workflows, undrained queues, crashed processes, harness errors
	Duration   time.Duration
	Notes      []string
	Problems   []string
	LogDir     string
}

// OK reports whether every invariant held.
func (r Row) OK() bool {
	return r.Lost+r.Duplicated+r.Expired+r.Wrong+r.Other == 0
}

// taskVerdict is what the checks found for one task.
type taskVerdict struct {
	runs    []RunEnd
	brids   []int64
	class   string // "", lost, expired, wrong
	details string
}

func (d *deployment) runsOf(id string) []RunEnd {
	st, ok := d.Queue.Status(id)
	if !ok {
		return nil
	}
	runs := make([]RunEnd, len(st.Runs))
	for i, r := range st.Runs {
		runs[i] = RunEnd{State: r.State, Reason: r.ReasonResolved}
	}
	return runs
}

// settled says whether a task has reached an end it cannot leave by
// itself: its last run resolved, with at least as many runs as wanted.
func settled(got, want []RunEnd) bool {
	if len(got) == 0 || len(got) < len(want) {
		return false
	}
	switch got[len(got)-1].State {
	case "completed", "failed", "exception":
		return true
	}
	return false
}

// waitSettled waits until every task has settled in Taskcluster, at most
// timeout; it returns how many had not.
func (d *deployment) waitSettled(ctx context.Context, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		left := 0
		for _, t := range d.tasks {
			if !settled(d.runsOf(t.id), t.outcome.Want) {
				left++
			}
		}
		if left == 0 {
			// Taskcluster is done; a task cancelled there is settled
			// once its BuildRequest is cancelled in Buildbot too.
			n, err := d.notCancelledInBuildbot(ctx)
			if err != nil {
				d.log.Warn("reading BuildRequests", "err", err)
			}
			left = n
		}
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		if time.Since(lastLog) > 15*time.Second {
			d.log.Info("waiting for tasks to settle", "unsettled", left, "of", len(d.tasks), "running_builds", d.runningBuilds())
			lastLog = time.Now()
		}
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			return left
		}
	}
}

// buildRequests maps each task to its BuildRequests, through the buildset
// the bridge tags with external_idstring "taskId:<id>".
func (d *deployment) buildRequests(ctx context.Context) (map[string][]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rows, err := d.DB.SQL().QueryContext(ctx, `SELECT bs.external_idstring, br.id
		FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		WHERE bs.external_idstring LIKE 'taskId:%' ORDER BY br.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]int64{}
	for rows.Next() {
		var ext string
		var brid int64
		if err := rows.Scan(&ext, &brid); err != nil {
			return nil, err
		}
		id := strings.TrimPrefix(ext, "taskId:")
		out[id] = append(out[id], brid)
	}
	return out, rows.Err()
}

// cancelledInBuildbot says whether a BuildRequest was cancelled: its
// pending request, or its running build, through self-serve.
func (d *deployment) cancelledInBuildbot(ctx context.Context, brid int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var n int
	err := d.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM buildrequests br WHERE br.id = ? AND `+cancelledRequest,
		brid, bbsim.CANCELLED, bbsim.FAILURE).Scan(&n)
	return n == 1, err
}

// cancelledRequest is how Buildbot leaves a cancelled request (REFERENCE
// §B): its build stopped, CANCELLED; or cancelled before any master
// claimed it, which selfserve-agent marks FAILURE with claimed_at 0.
// Parameters: CANCELLED, FAILURE.
const cancelledRequest = `br.complete = 1 AND (br.results = ? OR (br.results = ? AND br.claimed_at = 0))`

// notCancelledInBuildbot counts the tasks cancelled in TC whose
// BuildRequest has not been cancelled in Buildbot yet. A task cancelled
// before the bridge injected anything needs no BuildRequest, so counting
// only the cancelled ones would wait for nothing: the count is of the
// requests that exist.
func (d *deployment) notCancelledInBuildbot(ctx context.Context) (int, error) {
	brs, err := d.buildRequests(ctx)
	if err != nil {
		return -1, err
	}
	want := 0
	for _, t := range d.tasks {
		if t.outcome.CancelInTC && len(brs[t.id]) > 0 {
			want++
		}
	}
	if want == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := d.DB.SQL().QueryContext(ctx, `SELECT bs.external_idstring
		FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		WHERE `+cancelledRequest, bbsim.CANCELLED, bbsim.FAILURE)
	if err != nil {
		return want, err
	}
	defer rows.Close()
	done := 0
	for rows.Next() {
		var ext string
		if err := rows.Scan(&ext); err != nil {
			return want, err
		}
		if t, ok := d.byID[strings.TrimPrefix(ext, "taskId:")]; ok && t.outcome.CancelInTC {
			done++
		}
	}
	return want - done, rows.Err()
}

// checkTasks classifies every task.
func (d *deployment) checkTasks(ctx context.Context, row *Row) error {
	brs, err := d.buildRequests(ctx)
	if err != nil {
		return fmt.Errorf("faults: reading BuildRequests: %w", err)
	}
	examples := map[string][]string{}
	for _, t := range d.tasks {
		v := taskVerdict{runs: d.runsOf(t.id), brids: brs[t.id]}
		v.class = CheckRuns(v.runs, t.outcome.Want)
		// A task cancelled in TC before the bridge injected its
		// BuildRequest rightly has none.
		if v.class == "" && len(v.brids) == 0 && !t.outcome.CancelInTC {
			v.class, v.details = "lost", "no BuildRequest"
		}
		if v.class == "" && t.outcome.CancelInTC && len(v.brids) == 1 {
			ok, err := d.cancelledInBuildbot(ctx, v.brids[0])
			if err != nil {
				return err
			}
			if !ok {
				v.class, v.details = "wrong", "not cancelled in Buildbot"
			}
		}
		switch v.class {
		case "lost":
			row.Lost++
		case "expired":
			row.Expired++
		case "wrong":
			row.Wrong++
		}
		if len(v.brids) > 1 {
			row.Duplicated++
			examples["duplicated"] = append(examples["duplicated"], fmt.Sprintf("%s: BuildRequests %v", t.id, v.brids))
		}
		if v.class != "" {
			examples[v.class] = append(examples[v.class], fmt.Sprintf("%s [%s%s]: runs %q, want %q, BuildRequests %v %s",
				t.id, t.outcome.Name, noteSuffix(t.note), FormatRuns(v.runs), FormatRuns(t.outcome.Want), v.brids, v.details))
		}
	}
	classes := make([]string, 0, len(examples))
	for c := range examples {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		ex := examples[c]
		for i, e := range ex {
			if i == 5 {
				row.Problems = append(row.Problems, fmt.Sprintf("%s: … and %d more", c, len(ex)-5))
				break
			}
			row.Problems = append(row.Problems, c+": task "+e)
		}
	}
	return nil
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return ", " + n
}

// openTaskWorkflows lists the task workflows still running (the sweep is
// meant to run forever and is not listed).
func (d *deployment) openTaskWorkflows(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ids []string
	var token []byte
	for {
		resp, err := d.Temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     d.Temporal.Namespace,
			Query:         fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "Running"`, signals.TaskWorkflowType),
			NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Executions {
			ids = append(ids, e.Execution.WorkflowId)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return ids, nil
		}
	}
}

// waitNoOpenWorkflows waits (at most timeout) for every task workflow to
// close: visibility lags a little behind the workflows.
func (d *deployment) waitNoOpenWorkflows(ctx context.Context, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ids, err := d.openTaskWorkflows(ctx)
		if err != nil || len(ids) == 0 || time.Now().After(deadline) {
			return ids, err
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return ids, err
		}
	}
}

// waitDrained waits (at most timeout) until every queue of the vhost — the
// bridge's four and its dead-letter queue — holds nothing, ready or
// unacknowledged, and returns the ones that still do.
func (d *deployment) waitDrained(ctx context.Context, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		qs, err := d.run.rabbit.Queues(ctx, d.vhost)
		if err != nil {
			return nil, err
		}
		var full []string
		names := map[string]bool{}
		for _, q := range qs {
			names[q.Name] = true
			if q.Ready+q.Unacked > 0 {
				full = append(full, fmt.Sprintf("%s: %d ready, %d unacked", q.Name, q.Ready, q.Unacked))
			}
		}
		for _, want := range []string{"/task-pending", "/task-exception", "/started", "/log_uploaded"} {
			if !names[identity.QueueBasename+want] {
				full = append(full, identity.QueueBasename+want+": missing")
			}
		}
		if len(full) == 0 || time.Now().After(deadline) {
			return full, nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return full, err
		}
	}
}
