package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/payload"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

// floorConsumer is the pending→BuildRequest step with no Temporal: what a
// bridge without durable workflows would do at the least. Like the bridge
// it reads the task's status and definition from the queue, validates the
// payload, and injects through schedulerdb.InjectBuildRequest (the same
// transaction), consuming with pulse.Consumer's default prefetch and
// writing through schedulerdb's default connection pool, as the starter
// and the worker do.
func floorConsumer(amqpURL, queueName, exchange, routingKey string, db *schedulerdb.DB, tc *tcqueue.Queue, log *slog.Logger) (*pulse.Consumer, error) {
	handle := func(ctx context.Context, m pulse.Message) error {
		p, err := pulsemsg.DecodeTaskPending(m.Body)
		if err != nil {
			return pulse.Poison(err)
		}
		st, err := tc.Status(p.TaskID)
		if err != nil {
			return err
		}
		runs := st.Status.Runs
		if p.RunID != len(runs)-1 || runs[p.RunID].State != "pending" {
			return nil
		}
		def, err := tc.Task(p.TaskID)
		if err != nil {
			return err
		}
		pl, err := payload.Parse(def.Payload)
		if err != nil {
			return pulse.Poison(err)
		}
		in := schedulerdb.Injection{
			TaskID:      p.TaskID,
			RunID:       p.RunID,
			BuilderName: pl.BuilderName,
			Properties:  sortedProperties(pl.Properties),
			SubmittedAt: time.Time(runs[p.RunID].Scheduled),
		}
		if ss := pl.Sourcestamp; ss != nil {
			in.Sourcestamp = schedulerdb.Sourcestamp{Branch: payload.ShortBranch(ss.Branch), Revision: ss.Revision,
				Repository: ss.Repository, Project: ss.Project}
		}
		if def.Priority == "high" {
			in.Priority = 1
		}
		if _, err := db.InjectBuildRequest(ctx, in); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		return nil
	}
	return pulse.NewConsumer(pulse.ConsumerOptions{
		URL:             amqpURL,
		ConnectionName:  "bbb-bench-floor",
		DeadLetterQueue: queueName + "-dead-letter",
		Logger:          log,
	}, pulse.Subscription{Binding: pulse.Binding{Queue: queueName, Exchange: exchange, RoutingKey: routingKey}, Handle: handle})
}

func sortedProperties(m map[string]any) []schedulerdb.Property {
	out := make([]schedulerdb.Property, 0, len(m))
	for k, v := range m {
		out = append(out, schedulerdb.Property{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// runFloor measures the floor on the same broker, queue stand-in and
// scheduler DB, right after the bridge: the same number of tasks, created
// the same way, each consumed by floorConsumer.
func (d *deployment) runFloor(ctx context.Context, res *Result, amqpURL, dbURL, rootURL, bridgeToken string, tc *tcqueue.Queue, svc localdeploy.Services) error {
	floorDBURL := dbURL
	var counter *StatementCounter
	if !res.SQLite {
		c, err := NewStatementCounter(svc.MySQL)
		if err != nil {
			return err
		}
		defer c.Close()
		counter = c
		floorDBURL = strings.Replace(dbURL, "@"+svc.MySQL+"/", "@"+c.Addr()+"/", 1)
	}
	db, err := schedulerdb.Open(ctx, floorDBURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.EnsureBridgeTable(ctx); err != nil {
		return err
	}
	reader := tcqueue.New(&tcclient.Credentials{ClientID: identity.BridgeClientID, AccessToken: bridgeToken}, rootURL)
	const queueName = "bench/floor/task-pending"
	fc, err := floorConsumer(amqpURL, queueName, tcExchanges+"task-pending",
		"*.*.*.*.*."+identity.ProvisionerID+"."+identity.WorkerType+".#", db, reader, d.quiet)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fc.Run(fctx) }()
	defer func() { cancel(); <-done }()
	if err := waitReady(ctx, fc, time.Minute); err != nil {
		return err
	}
	if counter != nil {
		// Opening the pool and creating bbb_tasks are not per-task work.
		counter.queries.Store(0)
		counter.prepares.Store(0)
		counter.executes.Store(0)
	}
	ids, err := createTasks(ctx, tc, res.Tasks, res.Rate, d.rec, "floor", benchDeadline)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d.o.Timeout)
	for {
		missing := 0
		for _, id := range ids {
			if d.rec.get(id).brSeen.IsZero() {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			res.Problems = append(res.Problems, fmt.Sprintf("floor: %d of %d tasks got no BuildRequest", missing, len(ids)))
			break
		}
		select {
		case err := <-done:
			return fmt.Errorf("bench: floor consumer stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if counter != nil {
		res.Floor.SQL = counter.Counts()
	}
	var seen []time.Time
	for i, id := range ids {
		tt := d.rec.get(id)
		if tt.brSeen.IsZero() {
			continue
		}
		seen = append(seen, tt.brSeen)
		if i >= warmup(ids) && !tt.pending.IsZero() {
			res.Floor.PendingToBR = append(res.Floor.PendingToBR, tt.brSeen.Sub(tt.pending))
		}
	}
	res.Floor.BRRate = sustainedRate(seen)
	return nil
}
