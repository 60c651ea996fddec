package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// stackConfig is what differs between the benchmark's deployment and the
// scale run's.
type stackConfig struct {
	// claimTimeout is the stand-in queue's; 0 is the real 20 minutes.
	claimTimeout time.Duration
	// pollInterval is the simulated masters' db_poll_interval.
	pollInterval time.Duration
	// script is what every build does.
	script bbsim.Script
	// noWatcher leaves out the BuildRequest watcher (a 10 ms poll of the
	// DB that only the pending→BuildRequest latency needs).
	noWatcher bool
	// reclaimLead, when set, is written to config.json as
	// reclaim.lead_seconds (otherwise the bridge's default applies).
	reclaimLead time.Duration
}

// stack is a running deployment: scheduler DB, Temporal, broker vhost,
// stand-ins, observers, and the bridge's worker and starter processes.
type stack struct {
	db      *schedulerdb.DB
	dbURL   string            // as the benchmark reaches it
	counter *StatementCounter // nil on SQLite
	ts      TemporalServer
	amqpURL string
	queue   *tcfake.Queue
	sim     *bbsim.Sim
	// tc is the scheduler's client, which creates the tasks.
	tc          *tcqueue.Queue
	bridgeToken string
	worker      *child
	starter     *child
	// errc reports a background part (observer, watcher) that failed.
	errc chan error
}

// startStack brings the whole deployment up, the scheduler DB prefilled,
// and returns once the bridge is healthy and the observer consumes.
func (d *deployment) startStack(ctx context.Context, cfg stackConfig) (*stack, error) {
	o, log := d.o, d.o.Log
	st := &stack{errc: make(chan error, 8)}

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
	var bridgeDBURL string
	if o.SQLite {
		st.dbURL = "sqlite:///" + filepath.Join(d.dir, "scheduler.db")
		bridgeDBURL = st.dbURL
	} else {
		name, drop, err := o.Services.createDatabase(ctx, "bbbbench_")
		if err != nil {
			return nil, err
		}
		d.defer_(drop)
		st.dbURL = fmt.Sprintf("mysql://root@%s/%s", o.Services.MySQL, name)
		c, err := NewStatementCounter(o.Services.MySQL)
		if err != nil {
			return nil, err
		}
		d.defer_(func() { c.Close() })
		st.counter = c
		bridgeDBURL = fmt.Sprintf("mysql://root@%s/%s", c.Addr(), name)
	}
	db, err := schedulerdb.Open(ctx, st.dbURL)
	if err != nil {
		return nil, err
	}
	st.db = db
	d.defer_(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		return nil, err
	}
	log.Info("prefilling the scheduler DB", "buildrequests", o.Prefill)
	t0 := time.Now()
	if err := Prefill(ctx, db.SQL(), db.Driver(), o.Prefill); err != nil {
		return nil, err
	}
	d.prefillTime = time.Since(t0)
	log.Info("prefilled", "took", d.prefillTime.Round(time.Second))
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
	st.ts = ts
	d.defer_(ts.Stop)

	amqpURL, delVhost, err := o.Services.createVhost(ctx, "bbbbench-")
	if err != nil {
		return nil, err
	}
	st.amqpURL = amqpURL
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
	st.bridgeToken = bridgeToken
	queue, err := tcfake.New(tcfake.Options{
		Publisher:    pub,
		ClaimTimeout: cfg.claimTimeout,
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
	st.queue = queue
	d.defer_(queue.Close)

	sim, err := bbsim.New(bbsim.Options{
		DB:           db.SQL(),
		Driver:       db.Driver(),
		Publisher:    simPub,
		PollInterval: cfg.pollInterval,
		Script:       cfg.script,
		Builders:     benchBuilders,
		Logger:       d.quiet.With("component", "bbsim"),
	})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, err
	}
	st.sim = sim
	d.defer_(sim.Close)

	observer, err := observePulse(amqpURL, tcExchanges, buildExchange, d.rec, d.quiet)
	if err != nil {
		return nil, err
	}
	d.background(ctx, st.errc, "pulse observer", observer.Run)
	if !cfg.noWatcher {
		fromID, err := maxBuildRequestID(ctx, db.SQL())
		if err != nil {
			return nil, err
		}
		d.background(ctx, st.errc, "BuildRequest watcher", func(ctx context.Context) error {
			return watchBuildRequests(ctx, db.SQL(), fromID, d.rec)
		})
	}

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
		reclaimLead: cfg.reclaimLead,
	}.write(d.dir)
	if err != nil {
		return nil, err
	}
	worker, err := startChild("worker", bins[0], cfgPath, d.dir, profileEnv(o.ProfileDir, "worker"))
	if err != nil {
		return nil, err
	}
	st.worker = worker
	d.defer_(func() { _ = worker.stop(time.Minute) })
	starter, err := startChild("starter", bins[1], cfgPath, d.dir, profileEnv(o.ProfileDir, "starter"))
	if err != nil {
		return nil, err
	}
	st.starter = starter
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
	st.tc = schedulerClient(queue.RootURL(), schedToken)
	return st, nil
}
