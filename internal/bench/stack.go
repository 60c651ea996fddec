package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
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

// stack is a running deployment with the benchmark's observers and the
// bridge's worker and starter processes.
type stack struct {
	*localdeploy.Deployment
	dbURL   string            // as the benchmark reaches it
	counter *StatementCounter // nil on SQLite
	worker  *localdeploy.Child
	starter *localdeploy.Child
	// errc reports a background part (observer, watcher) that failed.
	errc chan error
}

// startStack brings the whole deployment up, the scheduler DB prefilled,
// and returns once the bridge is healthy and the observer consumes.
func (d *deployment) startStack(ctx context.Context, cfg stackConfig) (*stack, error) {
	o := d.o
	st := &stack{errc: make(chan error, 8)}

	// The binaries build while the DB fills: one waits on the compiler,
	// the other on MariaDB.
	var bins map[string]string
	var buildErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pkgs := []string{"./worker", "./starter"}
		if o.ProfileDir != "" {
			pkgs = []string{"./internal/bench/cmd/bbb-bench-proc"}
		}
		bins, buildErr = localdeploy.BuildBinaries(ctx, o.ModuleRoot, filepath.Join(d.dir, "bin"), pkgs...)
		if p := bins["bbb-bench-proc"]; p != "" {
			bins["worker"], bins["starter"] = p, p
		}
	}()
	defer wg.Wait()

	bb := &localdeploy.Buildbot08{
		Prepare: d.prefill,
		Sim:     bbsim.Options{PollInterval: cfg.pollInterval, Script: cfg.script, Builders: benchBuilders},
	}
	if o.SQLite {
		bb.SchedulerDB = "sqlite:///" + filepath.Join(d.dir, "scheduler.db")
	} else {
		name, drop, err := o.Services.CreateDatabase(ctx, "bbbbench_")
		if err != nil {
			return nil, err
		}
		d.Defer(drop)
		c, err := NewStatementCounter(o.Services.MySQL)
		if err != nil {
			return nil, err
		}
		d.Defer(func() { c.Close() })
		st.counter = c
		bb.SchedulerDB = fmt.Sprintf("mysql://root@%s/%s", o.Services.MySQL, name)
		bb.BridgeDB = fmt.Sprintf("mysql://root@%s/%s", c.Addr(), name)
	}
	st.dbURL = bb.SchedulerDB
	amqpURL, delVhost, err := o.Services.CreateVhost(ctx, "bbbbench-")
	if err != nil {
		return nil, err
	}
	d.Defer(delVhost)
	dep, err := localdeploy.Start(ctx, localdeploy.Options{
		Identity:   identity,
		Temporal:   o.StartTemporal,
		AMQPURL:    amqpURL,
		Queue:      localdeploy.QueueOptions{ClaimTimeout: cfg.claimTimeout},
		Buildbot08: bb,
		Log:        d.quiet,
	})
	if err != nil {
		return nil, err
	}
	d.Defer(dep.Close)
	st.Deployment = dep

	observer, err := observePulse(amqpURL, tcExchanges, buildExchange, d.rec, d.quiet)
	if err != nil {
		return nil, err
	}
	d.background(ctx, st.errc, "pulse observer", observer.Run)
	if !cfg.noWatcher {
		fromID, err := maxBuildRequestID(ctx, dep.DB.SQL())
		if err != nil {
			return nil, err
		}
		d.background(ctx, st.errc, "BuildRequest watcher", func(ctx context.Context) error {
			return watchBuildRequests(ctx, dep.DB.SQL(), fromID, d.rec)
		})
	}

	// The bridge, as two processes.
	wg.Wait()
	if buildErr != nil {
		return nil, buildErr
	}
	dep.Config.ReclaimLead = cfg.reclaimLead
	start := func(kind string) (*localdeploy.Child, error) {
		c, err := dep.StartChild(ctx, localdeploy.ChildSpec{Kind: kind, Bin: bins[kind], Dir: d.dir, Env: profileEnv(o.ProfileDir, kind)})
		if err != nil {
			return nil, err
		}
		d.Defer(func() { _ = c.Stop(time.Minute) })
		return c, nil
	}
	if st.worker, err = start("worker"); err != nil {
		return nil, err
	}
	if st.starter, err = start("starter"); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, observer, time.Minute); err != nil {
		return nil, err
	}
	return st, nil
}

// prefill fills the scheduler DB with o.Prefill completed BuildRequests
// before anything else runs, and times it.
func (d *deployment) prefill(ctx context.Context, db *schedulerdb.DB) error {
	d.o.Log.Info("prefilling the scheduler DB", "buildrequests", d.o.Prefill)
	t0 := time.Now()
	if err := Prefill(ctx, db.SQL(), db.Driver(), d.o.Prefill); err != nil {
		return err
	}
	d.prefillTime = time.Since(t0)
	d.o.Log.Info("prefilled", "took", d.prefillTime.Round(time.Second))
	return nil
}
