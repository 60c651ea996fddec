package faults

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
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
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
}

// deployment is one fault's whole world, torn down by close in reverse.
type deployment struct {
	run   *runner
	fault Fault
	dir   string
	log   *slog.Logger
	quiet *slog.Logger

	ts     TemporalServer
	vhost  string
	dbName string
	db     *schedulerdb.DB
	queue  *tcfake.Queue
	proxy  *tcProxy
	sim    *bbsim.Sim
	sched  *tcqueue.Queue
	cfg    bridgeConfig

	tasks   []plannedTask
	byID    map[string]*plannedTask
	created chan struct{} // closed once every task is created

	mu    sync.Mutex
	procs map[string]*proc // the current incarnation of each process
	all   []*proc
	seq   map[string]int
	notes []string

	cleanups []func()
}

func (d *deployment) defer_(f func()) { d.cleanups = append(d.cleanups, f) }

func (d *deployment) close() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
}

func (d *deployment) note(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
	d.log.Info("fault: " + fmt.Sprintf(format, args...))
}

// up starts everything but the bridge's processes.
func (d *deployment) up(ctx context.Context) error {
	r := d.run
	var err error
	if d.ts, err = r.o.StartTemporal(); err != nil {
		return err
	}
	d.defer_(d.ts.Stop)

	if d.vhost, err = r.rabbit.CreateVhost(ctx, "bbbfaults-"); err != nil {
		return err
	}
	d.defer_(func() { _ = r.rabbit.DeleteVhost(d.vhost) })
	amqpURL := r.rabbit.URL(d.vhost)
	// One publisher per stand-in, as the benchmark does: a Publisher
	// serialises its confirms.
	tcPub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		return err
	}
	d.defer_(func() { tcPub.Close() })
	simPub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		return err
	}
	d.defer_(func() { simPub.Close() })

	if d.dbName, err = r.mariadb.CreateDatabase(ctx, "bbbfaults_"); err != nil {
		return err
	}
	d.defer_(func() { _ = r.mariadb.DropDatabase(d.dbName) })
	dbURL := fmt.Sprintf("mysql://root@%s/%s", r.mariadb.Addr(), d.dbName)
	if d.db, err = schedulerdb.Open(ctx, dbURL); err != nil {
		return err
	}
	d.defer_(func() { d.db.Close() })
	if err := d.db.CreateBuildbotSchema(ctx); err != nil {
		return err
	}

	bridgeToken, schedToken := randomToken(), randomToken()
	d.queue, err = tcfake.New(tcfake.Options{
		Publisher:        tcPub,
		ClaimTimeout:     claimTimeout,
		ResolverInterval: 500 * time.Millisecond,
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
		return err
	}
	if err := d.queue.Start(ctx); err != nil {
		return err
	}
	d.defer_(d.queue.Close)
	d.sched = schedulerClient(d.queue.RootURL(), schedToken)
	if d.proxy, err = newTCProxy(d.queue.RootURL(), d.cancelTask); err != nil {
		return err
	}
	d.defer_(d.proxy.Close)

	d.sim, err = bbsim.New(bbsim.Options{
		DB:           d.db.SQL(),
		Driver:       d.db.Driver(),
		Publisher:    simPub,
		PollInterval: 250 * time.Millisecond,
		// Buildbot's hour would outlast the run, so a request left claimed
		// by a master that does not build it would show up only as lost;
		// at 150 s the stale-claim rule takes it back within the settle
		// time. The refresh (Buildbot: 10 min) must keep a running build's
		// claim fresh through the longest outage of the matrix (MariaDB,
		// 60 s, plus a refresh that hangs for its 30 s timeout): every
		// 20 s leaves the claim at most ~110 s old, short of 150 s, so an
		// outage alone never makes a running build stale.
		ClaimTimeout:         150 * time.Second,
		ClaimRefreshInterval: 20 * time.Second,
		Script:               d.script,
		Builders:             servedBuilders,
		AgentDelay:           100 * time.Millisecond,
		Logger:               d.quiet.With("component", "bbsim"),
	})
	if err != nil {
		return err
	}
	if err := d.sim.Start(ctx); err != nil {
		return err
	}
	d.defer_(d.sim.Close)

	d.cfg = bridgeConfig{
		rootURL: d.proxy.RootURL(), bridgeToken: bridgeToken, dbURL: dbURL,
		selfServeURL: d.sim.SelfServeURL(), amqpURL: amqpURL,
		temporalAddr: d.ts.HostPort, namespace: d.ts.Namespace,
	}
	return nil
}

// script is the masters' Script: each task's planned attempts.
func (d *deployment) script(info bbsim.BuildRequestInfo) []bbsim.Attempt {
	if t, ok := d.byID[info.TaskID]; ok {
		return t.outcome.Attempts
	}
	return nil
}

func (d *deployment) cancelTask(_ context.Context, taskID string) error {
	if _, err := d.sched.CancelTask(taskID); err != nil {
		return fmt.Errorf("cancelTask %s: %w", taskID, err)
	}
	return nil
}

// start runs a new incarnation of a worker or starter named name
// ("worker-1", "starter-2"...) and waits until it is healthy. env reaches
// the process; with proc set it is bbb-faults-proc (the fault hooks).
func (d *deployment) start(ctx context.Context, name string, env []string) (*proc, error) {
	kind := "worker"
	if len(name) >= 7 && name[:7] == "starter" {
		kind = "starter"
	}
	bin := d.run.bins[kind]
	if len(env) > 0 {
		bin = d.run.bins["proc"]
		env = append(env, "BBB_FAULTS_PROCESS="+kind)
	}
	listen, err1 := freeAddr()
	other, err2 := freeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.seq[name]++
	incarnation := fmt.Sprintf("%s.%d", name, d.seq[name])
	d.mu.Unlock()
	cfg := d.cfg
	cfg.workerListen, cfg.starterListen = listen, other
	if kind == "starter" {
		cfg.workerListen, cfg.starterListen = other, listen
	}
	cfgPath := filepath.Join(d.dir, incarnation+".json")
	if err := cfg.write(cfgPath); err != nil {
		return nil, err
	}
	p, err := startProc(incarnation, bin, cfgPath, listen, d.dir, env)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.procs[name] = p
	d.all = append(d.all, p)
	d.mu.Unlock()
	if err := p.waitHealthy(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	return p, nil
}

// kill SIGKILLs the current incarnation of name.
func (d *deployment) kill(name string) {
	d.mu.Lock()
	p := d.procs[name]
	d.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

func (d *deployment) current(name string) *proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.procs[name]
}

// stopAll stops the running processes gracefully; a process that does not
// stop cleanly is a problem.
func (d *deployment) stopAll() []string {
	d.mu.Lock()
	all := append([]*proc(nil), d.all...)
	d.mu.Unlock()
	var problems []string
	for _, p := range all {
		if err := p.stop(time.Minute); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// runningBuilds counts the builds running now in the simulated masters.
func (d *deployment) runningBuilds() int {
	n := 0
	for _, b := range d.sim.Builds() {
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
	if r.o.StartTemporal == nil {
		return nil, errors.New("faults: Options.StartTemporal is required")
	}
	return &deployment{
		run: r, fault: f, dir: dir,
		log:     r.log.With("fault", f.Name),
		quiet:   r.quiet,
		created: make(chan struct{}),
		procs:   map[string]*proc{},
		seq:     map[string]int{},
		byID:    map[string]*plannedTask{},
	}, nil
}
