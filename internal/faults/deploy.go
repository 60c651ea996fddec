package faults

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

// Builders: the masters serve the first two; nobody serves the third, so
// its requests stay pending until cancelled.
var (
	servedBuilders  = []string{"faults-linux64-opt", "faults-win64-debug"}
	unservedBuilder = "faults-unserved"
)

// plannedTask is one task of a fault run and what must become of it.
type plannedTask struct {
	id      string
	builder string
	outcome Outcome
	note    string // the fault it meets, if it meets one of its own
	// late tasks are created by the fault's Strike, not at the start.
	late bool
}

// deployment is one fault's whole world, torn down by Close in reverse.
type deployment struct {
	run   *runner
	fault Fault
	dir   string
	log   *slog.Logger
	quiet *slog.Logger

	*localdeploy.Deployment
	vhost string
	proxy *tcProxy

	tasks   []plannedTask
	byID    map[string]*plannedTask
	created chan struct{} // closed once every task but the late ones is created

	// temporal is the Temporal server's process, for a fault that stops
	// it (Fault.OwnTemporal); nil when it is embedded.
	temporal *TemporalProcess

	mu    sync.Mutex
	procs map[string]*localdeploy.Child // the current incarnation of each process
	all   []*localdeploy.Child
	seq   map[string]int
	notes []string
	// violations are invariants a fault's own checks found broken.
	violations []string

	localdeploy.Cleanups
}

func (d *deployment) note(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
	d.log.Info("fault: " + fmt.Sprintf(format, args...))
}

func (d *deployment) violation(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
	d.log.Warn("fault: violation: " + fmt.Sprintf(format, args...))
}

// up starts everything but the bridge's processes, on the run's own
// MariaDB and RabbitMQ.
func (d *deployment) up(ctx context.Context) error {
	r := d.run
	var err error
	if d.vhost, err = r.rabbit.CreateVhost(ctx, "bbbfaults-"); err != nil {
		return err
	}
	d.Defer(func() { _ = r.rabbit.DeleteVhost(d.vhost) })
	dbName, err := r.mariadb.CreateDatabase(ctx, "bbbfaults_")
	if err != nil {
		return err
	}
	d.Defer(func() { _ = r.mariadb.DropDatabase(dbName) })

	startTemporal := r.o.StartTemporal
	if d.fault.OwnTemporal {
		startTemporal = d.startOwnTemporal(ctx)
	}
	dep, err := localdeploy.Start(ctx, localdeploy.Options{
		Identity: identity,
		Temporal: startTemporal,
		AMQPURL:  r.rabbit.URL(d.vhost),
		Queue: localdeploy.QueueOptions{
			ClaimTimeout:     d.fault.claim(),
			ResolverInterval: 500 * time.Millisecond,
			Clock:            d.fault.QueueClock,
			// The scheduler is not under test: it retries 5xx for longer
			// than any fault lasts.
			SchedulerRetry: localdeploy.Retry{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Elapsed: 2 * time.Minute},
		},
		Buildbot08: &localdeploy.Buildbot08{
			SchedulerDB: fmt.Sprintf("mysql://root@%s/%s", r.mariadb.Addr(), dbName),
			Sim: bbsim.Options{
				PollInterval: 250 * time.Millisecond,
				// Buildbot's hour would outlast the run, so a request left
				// claimed by a master that does not build it would show up
				// only as lost; at 150 s the stale-claim rule takes it back
				// within the settle time. The refresh (Buildbot: 10 min)
				// must keep a running build's claim fresh through the
				// longest outage of the matrix (MariaDB, 60 s, plus a
				// refresh that hangs for its 30 s timeout): every 20 s
				// leaves the claim at most ~110 s old, short of 150 s, so
				// an outage alone never makes a running build stale.
				ClaimTimeout:         150 * time.Second,
				ClaimRefreshInterval: 20 * time.Second,
				Script:               d.script,
				Builders:             servedBuilders,
				AgentDelay:           100 * time.Millisecond,
			},
		},
		Log: d.quiet,
	})
	if err != nil {
		return err
	}
	d.Deployment = dep
	d.Defer(dep.Close)
	if d.proxy, err = newTCProxy(d.Queue.RootURL(), d.cancelTask); err != nil {
		return err
	}
	d.Defer(d.proxy.Close)
	d.Config.RootURL = d.proxy.RootURL()
	d.Config.ReflectorInterval = reflectorInterval
	d.Config.FinishedGrace = finishedGrace
	return nil
}

// startOwnTemporal is the Temporal of a fault that stops it: a process of
// its own on a SQLite file under the fault's folder.
func (d *deployment) startOwnTemporal(ctx context.Context) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) {
		p, err := NewTemporalProcess(d.run.o.TemporalCommand, filepath.Join(d.dir, "temporal"), filepath.Join(d.dir, "temporal.log"))
		if err != nil {
			return localdeploy.Temporal{}, err
		}
		t0 := time.Now()
		if err := p.Start(ctx); err != nil {
			return localdeploy.Temporal{}, err
		}
		d.log.Info("Temporal started in a process of its own", "addr", p.Addr(), "pid", p.Pid(), "took", time.Since(t0).Round(100*time.Millisecond))
		c, err := temporalclient.Dial(ctx, p.Addr(), p.Namespace(), d.quiet)
		if err != nil {
			_ = p.Stop(time.Minute)
			return localdeploy.Temporal{}, err
		}
		d.temporal = p
		return localdeploy.Temporal{
			HostPort:  p.Addr(),
			Namespace: p.Namespace(),
			Client:    c,
			Pid:       p.Pid(),
			Stop: func() {
				c.Close()
				if err := p.Stop(time.Minute); err != nil {
					d.log.Warn("stopping Temporal", "err", err)
				}
			},
		}, nil
	}
}

// script is the masters' Script: each task's planned attempts.
func (d *deployment) script(info bbsim.BuildRequestInfo) []bbsim.Attempt {
	if t, ok := d.byID[info.TaskID]; ok {
		return t.outcome.Attempts
	}
	return nil
}

func (d *deployment) cancelTask(_ context.Context, taskID string) error {
	if _, err := d.Scheduler.CancelTask(taskID); err != nil {
		return fmt.Errorf("cancelTask %s: %w", taskID, err)
	}
	return nil
}

// start runs a new incarnation of a worker or starter named name
// ("worker-1", "starter-2"...) and waits until it is healthy. env reaches
// the process; with env set it is bbb-faults-proc (the fault hooks).
func (d *deployment) start(ctx context.Context, name string, env []string) (*localdeploy.Child, error) {
	kind := "worker"
	if strings.HasPrefix(name, "starter") {
		kind = "starter"
	}
	bin := d.run.bins[kind]
	if len(env) > 0 {
		bin = d.run.bins["bbb-faults-proc"]
		env = append(env, "BBB_FAULTS_PROCESS="+kind)
	}
	d.mu.Lock()
	d.seq[name]++
	incarnation := fmt.Sprintf("%s.%d", name, d.seq[name])
	d.mu.Unlock()
	p, err := d.StartChild(ctx, localdeploy.ChildSpec{Kind: kind, Name: incarnation, Bin: bin, Dir: d.dir, Env: env})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.procs[name] = p
	d.all = append(d.all, p)
	d.mu.Unlock()
	return p, nil
}

// kill SIGKILLs the current incarnation of name.
func (d *deployment) kill(name string) {
	d.mu.Lock()
	p := d.procs[name]
	d.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

func (d *deployment) current(name string) *localdeploy.Child {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.procs[name]
}

// stopAll stops the running processes gracefully; a process that does not
// stop cleanly is a problem (one that exited before is crash's to judge).
func (d *deployment) stopAll() []string {
	d.mu.Lock()
	all := append([]*localdeploy.Child(nil), d.all...)
	d.mu.Unlock()
	var problems []string
	for _, p := range all {
		if !p.Running() {
			continue
		}
		if err := p.Stop(time.Minute); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// runningBuilds counts the builds running now in the simulated masters.
func (d *deployment) runningBuilds() int {
	n := 0
	for _, b := range d.Sim.Builds() {
		if b.Result == -1 {
			n++
		}
	}
	return n
}

// waitBuilds waits until at least n builds run at once, which is how the
// faults strike "mid-build"; it gives up quietly after timeout (the fault
// then strikes anyway, and the note says how many were running).
func (d *deployment) waitBuilds(ctx context.Context, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got := d.runningBuilds()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		select {
		case <-ctx.Done():
			return got
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitBuildRequests waits, at most timeout, until each of the tasks has
// its BuildRequest.
func (d *deployment) waitBuildRequests(ctx context.Context, ids []string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		brs, err := d.buildRequests(ctx)
		missing := 0
		for _, id := range ids {
			if len(brs[id]) == 0 {
				missing++
			}
		}
		if (err == nil && missing == 0) || time.Now().After(deadline) || sleepCtx(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

// waitCreated waits for every task to have been created.
func (d *deployment) waitCreated(ctx context.Context) error {
	select {
	case <-d.created:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sleepCtx(ctx context.Context, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newDeployment(r *runner, f Fault) (*deployment, error) {
	dir := filepath.Join(r.dir, f.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &deployment{
		run: r, fault: f, dir: dir,
		log:     r.log.With("fault", f.Name),
		quiet:   r.quiet,
		created: make(chan struct{}),
		procs:   map[string]*localdeploy.Child{},
		seq:     map[string]int{},
		byID:    map[string]*plannedTask{},
	}, nil
}
