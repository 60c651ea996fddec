package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/taskcluster/slugid-go/slugid"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// identity names the benchmark's worker pool, scheduler and clients.
var identity = localdeploy.NewIdentity("bench")

// The exchanges the benchmark's observer and floor listen on.
const (
	tcExchanges   = "exchange/taskcluster-queue/v1/"
	buildExchange = config.DefaultBuildbotExchange
)

// benchBuilders are the builders the bench's tasks use and the simulated
// masters serve: the prefilled history's builders are left alone.
var benchBuilders = []string{"bench-linux64-opt", "bench-linux64-debug", "bench-win64-opt", "bench-macosx64-opt"}

// benchDeadline is the tasks' deadline (from creation) in the benchmark,
// far beyond any run.
const benchDeadline = 3 * time.Hour

// createTasks creates n tasks for the bridge's worker pool, rate per
// second (0: as fast as 16 concurrent callers can), and records when each
// creation was answered.
func createTasks(ctx context.Context, q *tcqueue.Queue, n int, rate float64, rec *recorder, prefix string, deadline time.Duration) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = slugid.Nice()
	}
	err := localdeploy.CreateTasks(ctx, n, 16, rate, func(i int) error {
		if err := identity.CreateTask(q, ids[i], benchTask(i, prefix, deadline)); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		now := time.Now()
		rec.update(ids[i], func(t *taskTimes) { t.created = now })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// benchTask is the i-th task: builders in turn, a distinct revision each.
func benchTask(i int, prefix string, deadline time.Duration) localdeploy.Task {
	return localdeploy.Task{
		Builder:    benchBuilders[i%len(benchBuilders)],
		Properties: map[string]any{"product": "firefox", "branch": "mozilla-central", "bench_index": i},
		Sourcestamp: map[string]any{
			"branch":   "https://hg.mozilla.org/mozilla-central",
			"revision": fmt.Sprintf("%040x", uint64(i)*2654435761),
		},
		Deadline: deadline,
		Retries:  5,
		Name:     prefix + " task", Description: "bbb-bench task", Source: "https://example.com/bbb-bench",
	}
}
