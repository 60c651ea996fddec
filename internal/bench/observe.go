package bench

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

// taskTimes is one task's timeline as the benchmark saw it.
type taskTimes struct {
	created     time.Time // createTask answered
	pending     time.Time // task-pending reached the benchmark's own queue
	brSeen      time.Time // the BuildRequest row was first visible
	brid        int64
	logUploaded time.Time // log_uploaded reached the benchmark's own queue
}

// recorder collects timelines by task id.
type recorder struct {
	mu    sync.Mutex
	tasks map[string]*taskTimes
}

func newRecorder() *recorder { return &recorder{tasks: map[string]*taskTimes{}} }

func (r *recorder) update(taskID string, f func(*taskTimes)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tasks[taskID]
	if t == nil {
		t = &taskTimes{}
		r.tasks[taskID] = t
	}
	f(t)
}

func (r *recorder) get(taskID string) taskTimes {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.tasks[taskID]; t != nil {
		return *t
	}
	return taskTimes{}
}

// observePulse listens to Taskcluster's task-pending and Buildbot's
// log_uploaded on queues of its own, so each message's arrival there
// stands for its publish time (the broker is local, the handler trivial).
// The caller runs the returned consumer.
func observePulse(amqpURL, tcExchangePrefix, buildExchange string, rec *recorder, log *slog.Logger) (*pulse.Consumer, error) {
	subs := []pulse.Subscription{
		{Binding: pulse.Binding{Queue: "bench/observe/task-pending", Exchange: tcExchangePrefix + "task-pending", RoutingKey: "#"},
			Handle: func(_ context.Context, m pulse.Message) error {
				now := time.Now()
				p, err := pulsemsg.DecodeTaskPending(m.Body)
				if err != nil {
					return nil
				}
				rec.update(p.TaskID, func(t *taskTimes) {
					if t.pending.IsZero() {
						t.pending = now
					}
				})
				return nil
			}},
		{Binding: pulse.Binding{Queue: "bench/observe/log_uploaded", Exchange: buildExchange, RoutingKey: "build.*.*.log_uploaded"},
			Handle: func(_ context.Context, m pulse.Message) error {
				now := time.Now()
				ev, err := pulsemsg.DecodeLogUploaded(m.Body)
				if err != nil {
					return nil
				}
				taskID, _ := ev.Properties["taskId"][0].(string)
				if taskID == "" {
					return nil
				}
				rec.update(taskID, func(t *taskTimes) {
					if t.logUploaded.IsZero() {
						t.logUploaded = now
					}
				})
				return nil
			}},
	}
	return pulse.NewConsumer(pulse.ConsumerOptions{
		URL:             amqpURL,
		ConnectionName:  "bbb-bench-observer",
		DeadLetterQueue: "bench/observe/dead-letter",
		Prefetch:        512,
		Logger:          log,
	}, subs...)
}

// watchInterval is how often the watcher looks for new BuildRequests: the
// resolution of the pending→BuildRequest latency. The query reads a
// primary-key range, so polling this often costs the DB little.
const watchInterval = 10 * time.Millisecond

// watchWindow is how far below the highest id seen the watcher looks again
// for rows committed late: more than the writers' connection pools can
// hold open transactions for.
const watchWindow = 200

// watchBuildRequests records when each task's BuildRequest row first
// becomes visible (committed), until ctx ends. It reads Buildbot's own
// columns (buildsets.external_idstring), not the bridge's bbb_tasks.
func watchBuildRequests(ctx context.Context, db *sql.DB, fromID int64, rec *recorder) error {
	last := fromID
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		// Ids are taken at INSERT and become visible at COMMIT, so a
		// lower id can appear after a higher one: the last watchWindow ids
		// are read again (the recorder keeps the first sighting).
		rows, err := db.QueryContext(qctx, `SELECT br.id, bs.external_idstring FROM buildrequests br
			JOIN buildsets bs ON bs.id = br.buildsetid WHERE br.id > ? ORDER BY br.id LIMIT 5000`, max(last-watchWindow, fromID))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		for rows.Next() {
			var id int64
			var ext sql.NullString
			if err := rows.Scan(&id, &ext); err != nil {
				rows.Close()
				cancel()
				return err
			}
			last = max(last, id)
			taskID, ok := strings.CutPrefix(ext.String, schedulerdb.ExternalIDPrefix)
			if !ok {
				continue
			}
			rec.update(taskID, func(t *taskTimes) {
				if t.brSeen.IsZero() {
					t.brSeen, t.brid = now, id
				}
			})
		}
		err = rows.Err()
		rows.Close()
		cancel()
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// maxBuildRequestID is where the watcher starts: after the prefill.
func maxBuildRequestID(ctx context.Context, db *sql.DB) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var id sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT MAX(id) FROM buildrequests`).Scan(&id)
	return id.Int64, err
}
