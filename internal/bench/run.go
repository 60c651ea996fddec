package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// deployment is one benchmark run's pieces, torn down by close in reverse.
type deployment struct {
	o     Options
	dir   string
	rec   *recorder
	quiet *slog.Logger

	cleanups []func()
}

func (d *deployment) defer_(f func()) { d.cleanups = append(d.cleanups, f) }

func (d *deployment) close() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
}

// background runs f until the run ends and reports its error on errc.
func (d *deployment) background(ctx context.Context, errc chan<- error, name string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f(ctx); err != nil && ctx.Err() == nil {
			select {
			case errc <- fmt.Errorf("bench: %s: %w", name, err):
			default:
			}
		}
	}()
	d.defer_(func() { cancel(); <-done })
}

func (d *deployment) run(ctx context.Context) (*Result, error) {
	o, log := d.o, d.o.Log
	res := &Result{Tasks: o.Tasks, Prefill: o.Prefill, SQLite: o.SQLite, Rate: o.Rate}
	errc := make(chan error, 8)

	// The binaries build while the DB fills: one waits on the compiler,
	// the other on MariaDB.
	var bins []string
	var buildErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pkgs := []string{"./worker", "./starter"}
		if o.ProfileDir != "" {
			pkgs = []string{"./internal/bench/cmd/bbb-bench-proc"}
		}
		bins, buildErr = buildBinaries(ctx, o.ModuleRoot, d.dir, pkgs...)
		if buildErr == nil && len(bins) == 1 {
			bins = []string{bins[0], bins[0]}
		}
	}()

	// Scheduler DB.
	var dbURL, bridgeDBURL string
	var counter *StatementCounter
	if o.SQLite {
		dbURL = "sqlite:///" + filepath.Join(d.dir, "scheduler.db")
		bridgeDBURL = dbURL
	} else {
		name, drop, err := o.Services.createDatabase(ctx, "bbbbench_")
		if err != nil {
			return nil, err
		}
		d.defer_(drop)
		dbURL = fmt.Sprintf("mysql://root@%s/%s", o.Services.MySQL, name)
		c, err := NewStatementCounter(o.Services.MySQL)
		if err != nil {
			return nil, err
		}
		d.defer_(func() { c.Close() })
		counter = c
		bridgeDBURL = fmt.Sprintf("mysql://root@%s/%s", c.Addr(), name)
	}
	db, err := schedulerdb.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	d.defer_(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		return nil, err
	}
	log.Info("prefilling the scheduler DB", "buildrequests", o.Prefill)
	t0 := time.Now()
	if err := Prefill(ctx, db.SQL(), db.Driver(), o.Prefill); err != nil {
		return nil, err
	}
	res.PrefillTime = time.Since(t0)
	log.Info("prefilled", "took", res.PrefillTime.Round(time.Second))
	wg.Wait()
	if buildErr != nil {
		return nil, buildErr
	}

	if o.StartTemporal == nil {
		return nil, errors.New("bench: Options.StartTemporal is required")
	}
	ts, err := o.StartTemporal()
	if err != nil {
		return nil, err
	}
	d.defer_(ts.Stop)
	tclient := ts.Client

	amqpURL, delVhost, err := o.Services.createVhost(ctx, "bbbbench-")
	if err != nil {
		return nil, err
	}
	d.defer_(delVhost)
	// One publisher (connection) per stand-in: a Publisher waits for each
	// confirm under one lock, so a shared one would make the two stand-ins
	// queue behind each other.
	pub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		return nil, err
	}
	d.defer_(func() { pub.Close() })
	simPub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		return nil, err
	}
	d.defer_(func() { simPub.Close() })

	bridgeToken, schedToken := randomToken(), randomToken()
	queue, err := tcfake.New(tcfake.Options{
		Publisher: pub,
		Clients: map[string]tcfake.Client{
			bridgeClientID: {AccessToken: bridgeToken, Scopes: []string{
				"queue:claim-task:" + provisionerID + "/" + workerType,
				"queue:worker-id:" + workerGroup + "/" + workerID,
				"queue:cancel-task:" + schedulerID + "/*",
				"queue:rerun-task:" + schedulerID + "/*",
				"queue:reclaim-task:*",
				"queue:resolve-task:*",
				"queue:create-artifact:*",
			}},
			schedClientID: {AccessToken: schedToken, Scopes: []string{"*"}},
		},
		Logger: d.quiet.With("component", "tcfake"),
	})
	if err != nil {
		return nil, err
	}
	if err := queue.Start(ctx); err != nil {
		return nil, err
	}
	d.defer_(queue.Close)

	sim, err := bbsim.New(bbsim.Options{
		DB:           db.SQL(),
		Driver:       db.Driver(),
		Publisher:    simPub,
		PollInterval: 100 * time.Millisecond,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 0}),
		Builders:     benchBuilders,
		Logger:       d.quiet.With("component", "bbsim"),
	})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, err
	}
	d.defer_(sim.Close)

	observer, err := observePulse(amqpURL, tcExchanges, buildExchange, d.rec, d.quiet)
	if err != nil {
		return nil, err
	}
	d.background(ctx, errc, "pulse observer", observer.Run)
	fromID, err := maxBuildRequestID(ctx, db.SQL())
	if err != nil {
		return nil, err
	}
	d.background(ctx, errc, "BuildRequest watcher", func(ctx context.Context) error {
		return watchBuildRequests(ctx, db.SQL(), fromID, d.rec)
	})

	// The bridge, as two processes.
	workerListen, err1 := freeAddr()
	starterListen, err2 := freeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	cfgPath, err := bridgeConfig{
		rootURL: queue.RootURL(), bridgeToken: bridgeToken, dbURL: bridgeDBURL,
		selfServeURL: sim.SelfServeURL(), amqpURL: amqpURL,
		temporalAddr: ts.HostPort, namespace: ts.Namespace, taskQueue: "buildbot-bridge",
		workerListen: workerListen, starterListen: starterListen,
	}.write(d.dir)
	if err != nil {
		return nil, err
	}
	worker, err := startChild("worker", bins[0], cfgPath, d.dir, profileEnv(o.ProfileDir, "worker"))
	if err != nil {
		return nil, err
	}
	d.defer_(func() { _ = worker.stop(time.Minute) })
	starter, err := startChild("starter", bins[1], cfgPath, d.dir, profileEnv(o.ProfileDir, "starter"))
	if err != nil {
		return nil, err
	}
	d.defer_(func() { _ = starter.stop(time.Minute) })
	if err := worker.waitHealthy(ctx, workerListen, 2*time.Minute); err != nil {
		return nil, err
	}
	if err := starter.waitHealthy(ctx, starterListen, 2*time.Minute); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, observer, time.Minute); err != nil {
		return nil, err
	}
	log.Info("bridge running; creating tasks", "tasks", o.Tasks, "rate", o.Rate)

	tc := schedulerClient(queue.RootURL(), schedToken)
	runStart := time.Now()
	selfStart, err := readProcStats(os.Getpid())
	if err != nil {
		return nil, err
	}
	ids, err := createTasks(ctx, tc, o.Tasks, o.Rate, d.rec, "bench")
	if err != nil {
		return nil, err
	}
	res.Creation = time.Since(runStart)
	if err := waitResolved(ctx, queue, ids, o.Timeout, errc, log); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Wall = time.Since(runStart)
	selfEnd, err := readProcStats(os.Getpid())
	if err != nil {
		return nil, err
	}
	res.BenchCPU = selfEnd.CPU - selfStart.CPU
	if res.Worker, err = worker.stats(); err != nil {
		return nil, err
	}
	if res.Starter, err = starter.stats(); err != nil {
		return nil, err
	}
	if counter != nil {
		res.BridgeSQL = counter.Counts()
	}
	if err := worker.stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if err := starter.stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}

	d.measureBridge(ctx, res, queue, tclient, ids)
	log.Info("bridge measured; running the floor", "lifecycles_per_s", fmt.Sprintf("%.1f", res.Lifecycles))

	if err := d.runFloor(ctx, res, amqpURL, dbURL, queue.RootURL(), bridgeToken, tc, o.Services); err != nil {
		return nil, err
	}
	return res, nil
}

func waitReady(ctx context.Context, c *pulse.Consumer, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !c.Ready() {
		if time.Now().After(deadline) {
			return errors.New("bench: pulse observer not consuming")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// waitResolved waits until every task's latest run is resolved.
func waitResolved(ctx context.Context, q *tcfake.Queue, ids []string, timeout time.Duration, errc <-chan error, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	left := append([]string(nil), ids...)
	lastLog := time.Now()
	for {
		rest := left[:0]
		for _, id := range left {
			st, ok := q.Status(id)
			if !ok || len(st.Runs) == 0 {
				rest = append(rest, id)
				continue
			}
			switch st.Runs[len(st.Runs)-1].State {
			case "completed", "failed", "exception":
			default:
				rest = append(rest, id)
			}
		}
		left = rest
		if len(left) == 0 {
			return nil
		}
		if time.Since(lastLog) > 10*time.Second {
			log.Info("waiting for resolutions", "unresolved", len(left), "of", len(ids))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d tasks not resolved after %s (e.g. %s)", len(left), len(ids), timeout, left[0])
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
