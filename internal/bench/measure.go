package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Result is one benchmark run.
type Result struct {
	Tasks, Prefill int
	SQLite         bool
	// Temporal names the Temporal server (persistence, shards,
	// partitions).
	Temporal    string
	Rate        float64
	PrefillTime time.Duration
	Wall        time.Duration // first createTask to last resolution seen
	// Creation is how long creating the tasks took: with Rate 0 the
	// stand-in queue's own speed, an upper bound on what the bridge can
	// be offered.
	Creation time.Duration

	// Lifecycles is tasks resolved per second after the warm-up (the
	// first 10 % of resolutions).
	Lifecycles float64
	// PendingToBR and LogToResolved are per-task latencies, warm-up
	// tasks excluded.
	PendingToBR, LogToResolved []time.Duration
	// BRRate is BuildRequests created per second after the warm-up.
	BRRate float64

	HistoryMean float64
	HistoryMax  int
	// Actions are Temporal Cloud's billable Actions of all the tasks'
	// histories; divide by Tasks for one lifecycle.
	Actions   Actions
	TCCalls   float64 // per task, createTask excluded
	BridgeSQL SQLCounts
	Worker    localdeploy.ProcStats
	Starter   localdeploy.ProcStats
	// BenchCPU is the CPU time of this process — the embedded Temporal
	// server, the stand-ins and the measuring — while the tasks ran.
	BenchCPU time.Duration
	// PersistenceCPU is the CPU time of the database server holding
	// Temporal's persistence (PostgreSQL, every process of it) over the
	// same window; PersistenceMeasured says it was read.
	PersistenceCPU      time.Duration
	PersistenceMeasured bool

	Floor FloorResult

	Outcome
}

// FloorResult is the no-Temporal pending→BuildRequest step.
type FloorResult struct {
	PendingToBR []time.Duration
	BRRate      float64
	SQL         SQLCounts
}

func (d *deployment) measureBridge(ctx context.Context, res *Result, q *tcfake.Queue, tc client.Client, ids []string) {
	calls := q.Calls()
	resolvedAt := map[string]time.Time{}
	completed := map[string]int{}
	perTask := map[string]int{}
	for _, c := range calls {
		if c.Method == "createTask" {
			continue
		}
		perTask[c.TaskID]++
		if c.Status < 300 && (c.Method == "reportCompleted" || c.Method == "reportFailed" || c.Method == "reportException") {
			if _, ok := resolvedAt[c.TaskID]; !ok {
				resolvedAt[c.TaskID] = c.At
			}
			if c.Method == "reportCompleted" {
				completed[c.TaskID]++
			}
		}
	}
	var total int
	var resolved, brSeen []time.Time
	warm := warmup(ids)
	for i, id := range ids {
		total += perTask[id]
		tt := d.rec.get(id)
		st, _ := q.Status(id)
		switch {
		case len(st.Runs) != 1 || st.Runs[0].State != "completed":
			res.Problems = append(res.Problems, fmt.Sprintf("task %s: runs %+v, want one completed run", id, st.Runs))
		case completed[id] != 1:
			res.Problems = append(res.Problems, fmt.Sprintf("task %s: %d reportCompleted calls, want 1", id, completed[id]))
		case tt.brid == 0:
			res.Problems = append(res.Problems, fmt.Sprintf("task %s: completed with no BuildRequest", id))
		}
		if t, ok := resolvedAt[id]; ok {
			resolved = append(resolved, t)
		}
		if !tt.brSeen.IsZero() {
			brSeen = append(brSeen, tt.brSeen)
		}
		if i < warm {
			continue
		}
		if !tt.pending.IsZero() && !tt.brSeen.IsZero() {
			res.PendingToBR = append(res.PendingToBR, tt.brSeen.Sub(tt.pending))
		}
		if t, ok := resolvedAt[id]; ok && !tt.logUploaded.IsZero() {
			res.LogToResolved = append(res.LogToResolved, t.Sub(tt.logUploaded))
		}
	}
	res.TCCalls = float64(total) / float64(len(ids))
	res.Lifecycles = sustainedRate(resolved)
	res.BRRate = sustainedRate(brSeen)
	res.HistoryMean, res.HistoryMax, res.Actions = historyLengths(ctx, tc, ids, &res.Problems)
	if mean := res.Actions.PerTask(len(ids)); mean > ActionsTarget {
		res.Problems = append(res.Problems, fmt.Sprintf("a first-time success costs %.1f Temporal Cloud actions (mean), target ≤ %d", mean, ActionsTarget))
	}
}

// warmup is how many tasks, in creation order, count as warm-up.
func warmup(ids []string) int { return len(ids) / 10 }

// sustainedRate is events per second from the end of the warm-up (the
// 10 % mark) to the last event.
func sustainedRate(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	w := len(ts) / 10
	span := ts[len(ts)-1].Sub(ts[w])
	if span <= 0 {
		return 0
	}
	return float64(len(ts)-1-w) / span.Seconds()
}

// historyLengths counts every event of each task's workflow, over all its
// runs (following ContinueAsNew back to the first), and their billable
// Actions.
func historyLengths(ctx context.Context, tc client.Client, ids []string, problems *[]string) (float64, int, Actions) {
	var mu sync.Mutex
	var sum, maxN int
	var actions Actions
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				n, a, err := historyLength(ctx, tc, "task-"+id)
				mu.Lock()
				actions.Add(a)
				if err != nil {
					*problems = append(*problems, fmt.Sprintf("history of task-%s: %v", id, err))
				}
				sum += n
				maxN = max(maxN, n)
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return float64(sum) / float64(len(ids)), maxN, actions
}

func historyLength(ctx context.Context, tc client.Client, workflowID string) (int, Actions, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, runID := 0, ""
	var actions Actions
	for {
		it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		prev := ""
		var run actionCounter
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return n, actions, err
			}
			if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				prev = a.GetContinuedExecutionRunId()
			}
			run.add(ev)
			n++
		}
		actions.Add(run.done())
		if prev == "" {
			return n, actions, nil
		}
		runID = prev
	}
}

// percentile is the p-th percentile (0-100) by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
