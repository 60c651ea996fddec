package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/bridge"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/devserver"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// namespace is the Temporal namespace the demo runs in.
const namespace = "default"

// masterName is the simulated Buildbot master's name. It is fixed so that
// after a restart the new master takes over the requests the old one had
// claimed, as a restarted Buildbot master does.
const masterName = "bm01-demo"

// The -buildbot modes.
const (
	// buildbotSim is a simulated Buildbot 0.8 master (internal/bbsim).
	buildbotSim = "sim"
	// buildbotReal is a real Buildbot 3 master and worker.
	buildbotReal = "real"
)

// defaultDataFlag is -data's default. Each mode has its own folder, so
// that trying one does not require deleting the other.
func defaultDataFlag(mode string) string {
	if mode == buildbotReal {
		return "./data-real"
	}
	return "./data"
}

// options shape one run of the demo; defaultOptions are what `make demo`
// uses, tests shrink the durations and free the ports.
type options struct {
	// DataDir (absolute) holds everything that survives a restart.
	DataDir string
	// DataFlag is -data as the user typed it, for the commands printed.
	DataFlag string
	// Buildbot is -buildbot: buildbotSim or buildbotReal.
	Buildbot string
	// KeepGoing keeps the stack up after the demo tasks ended, until
	// Ctrl-C; without it the demo stops once they all ended as expected.
	KeepGoing bool
	// StartServices runs scripts/services.sh when RabbitMQ is not up.
	StartServices bool
	// SchedulerDB is a SQLAlchemy URL of the Buildbot scheduler DB; empty
	// means a SQLite file in DataDir.
	SchedulerDB string
	// AMQPURL is the broker to use; empty means the vhost bbb-demo on the
	// local RabbitMQ, created if missing.
	AMQPURL string

	FrontendAddr  string
	UIAddr        string
	QueueAddr     string
	SelfServeAddr string
	WorkerListen  string
	StarterListen string

	// Real mode: the master's web server (REST API) and worker ports on
	// 127.0.0.1, and where the starter takes the master's pushes. They are
	// fixed, not free ones, because master.cfg and the bridge's config
	// must name them before either starts.
	BuildbotWWWPort int
	BuildbotPBPort  int
	EventsListen    string

	// ClaimTimeout is the stand-in queue's (the real one is 20 minutes).
	ClaimTimeout time.Duration
	// BuildDuration is the successful long build's; other builds take a
	// third of it.
	BuildDuration time.Duration
	// CancelAfter is how long the "cancel" task's build runs before the
	// demo sends the cancel signal.
	CancelAfter       time.Duration
	ReflectorInterval time.Duration
	FinishedGrace     time.Duration
	// SnapshotInterval is how often the queue's state is saved besides at
	// Ctrl-C, so that even a killed demo loses little.
	SnapshotInterval time.Duration
	// BuildID, when set, names the worker's version instead of its binary:
	// a test's stand-in for a restart on changed code.
	BuildID string

	// Out receives the progress lines.
	Out io.Writer
}

func defaultOptions() options {
	return options{
		DataFlag:      defaultDataFlag(buildbotSim),
		Buildbot:      buildbotSim,
		KeepGoing:     true,
		FrontendAddr:  devserver.DefaultFrontendAddr,
		UIAddr:        devserver.DefaultUIAddr,
		QueueAddr:     "127.0.0.1:8234",
		SelfServeAddr: "127.0.0.1:8235",
		WorkerListen:  "127.0.0.1:9464",
		StarterListen: "127.0.0.1:9465",
		// Next to the demo's other ports; not Buildbot's usual 8010 and
		// 9989, which a master of the user's own may hold.
		BuildbotWWWPort: 8236,
		BuildbotPBPort:  8237,
		EventsListen:    config.DefaultBuildbotEventsListen,
		// 60 s instead of 20 min: the success task's 45 s build is
		// reclaimed once, visibly, in its history.
		ClaimTimeout:      60 * time.Second,
		BuildDuration:     45 * time.Second,
		CancelAfter:       10 * time.Second,
		ReflectorInterval: 10 * time.Second,
		FinishedGrace:     60 * time.Second,
		SnapshotInterval:  5 * time.Second,
		Out:               os.Stdout,
	}
}

// run is the demo: it brings the stack up, creates the demo tasks unless a
// previous run did, narrates what happens, and stops everything in order
// when ctx ends (Ctrl-C) or, without KeepGoing, once the demo tasks ended.
func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return err
	}
	s := &stack{o: o, out: o.Out}
	defer func() {
		if cerr := s.close(); err == nil {
			err = cerr
		}
	}()
	if err := s.openLogs(); err != nil {
		return err
	}
	st, err := loadState(o.DataDir)
	if err != nil {
		return err
	}
	if err := st.checkMode(o); err != nil {
		return err
	}
	s.state = st
	progress(s.out, "Buildbot Bridge demo: data in %s (delete it to start over), logs in %s", o.DataDir, filepath.Join(o.DataDir, logFile))

	if err := s.up(ctx); err != nil {
		if ctx.Err() != nil {
			// Ctrl-C during start-up is a stop, not a failure.
			progress(s.out, "stopping before everything was up")
			return nil
		}
		return err
	}
	progress(s.out, "everything is up in %s", since(began))

	if !st.TasksCreated {
		if err := s.createDemoTasks(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	} else {
		progress(s.out, "resuming: the demo tasks were created by an earlier run; in-flight ones carry on")
	}
	s.printGuide()
	return s.watch(ctx)
}

// stack is the running demo: what it started, to stop in reverse order.
type stack struct {
	o     options
	out   io.Writer
	state *demoState
	log   *slog.Logger

	srv    *devserver.Server
	queue  *tcfake.Queue
	sim    *bbsim.Sim        // sim mode
	master *buildbot3.Master // real mode
	procs  []*localdeploy.InProcess

	closers []closer
}

type closer struct {
	what string
	fn   func() error
}

// onClose registers fn to run at shutdown, after everything started later.
func (s *stack) onClose(what string, fn func() error) {
	s.closers = append(s.closers, closer{what, fn})
}

// close stops everything, newest first, and reports the first error.
func (s *stack) close() error {
	var first error
	for i := len(s.closers) - 1; i >= 0; i-- {
		c := s.closers[i]
		began := time.Now()
		err := c.fn()
		if c.what != "" {
			if err != nil {
				progress(s.out, "stopping %s: %v", c.what, err)
			} else {
				progress(s.out, "stopped %s (%s)", c.what, since(began))
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

func (s *stack) openLogs() error {
	f, err := os.OpenFile(filepath.Join(s.o.DataDir, logFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	s.onClose("", f.Close)
	s.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return nil
}

// up starts the services, the stand-ins and the bridge, in dependency
// order.
func (s *stack) up(ctx context.Context) error {
	if s.o.Buildbot == buildbotReal {
		// Before RabbitMQ: if both are missing, one run of services.sh
		// installs both.
		if err := ensureBuildbot(ctx, s.out, s.o.StartServices); err != nil {
			return err
		}
	}
	amqpURL, err := s.rabbit(ctx)
	if err != nil {
		return err
	}
	if err := s.temporal(ctx); err != nil {
		return err
	}
	pub, err := pulse.DialPublisher(ctx, amqpURL)
	if err != nil {
		return err
	}
	s.onClose("", pub.Close)
	if err := s.startQueue(ctx, pub); err != nil {
		return err
	}
	if s.o.Buildbot == buildbotReal {
		if err := s.startRealBuildbot(); err != nil {
			return err
		}
		return s.startBridge(ctx, amqpURL, s.realBackend())
	}
	dbURL, db, err := s.openSchedulerDB(ctx)
	if err != nil {
		return err
	}
	if err := s.startBuildbot(ctx, db, pub); err != nil {
		return err
	}
	return s.startBridge(ctx, amqpURL, backend08(dbURL, s.sim.SelfServeURL(), s.sim.BuildersURL()))
}

func (s *stack) rabbit(ctx context.Context) (string, error) {
	if s.o.AMQPURL != "" {
		hp, err := amqpHostPort(s.o.AMQPURL)
		if err != nil {
			return "", err
		}
		if err := rabbitReachable(ctx, hp, rabbitAPI); err != nil {
			return "", err
		}
		progress(s.out, "RabbitMQ up at %s", pulse.RedactURL(s.o.AMQPURL))
		return s.o.AMQPURL, nil
	}
	if err := ensureRabbit(ctx, s.out, s.o.StartServices); err != nil {
		return "", err
	}
	u, err := ensureVHost(ctx, s.state.fresh)
	if err != nil {
		return "", err
	}
	note := "kept from the last run"
	if s.state.fresh {
		note = "created afresh"
	}
	progress(s.out, "RabbitMQ up: the demo uses its own vhost %q (%s), nothing else on the broker", demoVHost, note)
	return u, nil
}

func (s *stack) temporal(ctx context.Context) error {
	f, err := os.OpenFile(filepath.Join(s.o.DataDir, temporalLog), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	s.onClose("", f.Close)
	began := time.Now()
	progress(s.out, "starting the Temporal dev server and its Web UI...")
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:      s.o.DataDir,
		FrontendAddr: s.o.FrontendAddr,
		UIAddr:       s.o.UIAddr,
		Namespace:    namespace,
		// The server is chatty at Info; its warnings are enough here.
		Logger: slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	s.srv = srv
	s.onClose("the Temporal dev server and Web UI", func() error { srv.Stop(); return nil })
	s.state.UIURL, s.state.TemporalAddress, s.state.Namespace = srv.UIURL(), srv.FrontendAddr(), namespace
	progress(s.out, "Temporal up in %s: frontend %s, Web UI %s (history in %s)", since(began), srv.FrontendAddr(), srv.UIURL(), srv.DBPath())
	return nil
}

// startQueue starts the stand-in queue with the state an earlier run saved.
// The stand-in keeps its state in memory; the demo saves it to
// tcqueue.json every few seconds and at Ctrl-C, so that tasks in flight
// are still there after a restart.
func (s *stack) startQueue(ctx context.Context, pub *pulse.Publisher) error {
	q, err := localdeploy.NewQueue(s.state.identity(), localdeploy.QueueOptions{
		Addr:           s.o.QueueAddr,
		ClaimTimeout:   s.o.ClaimTimeout,
		BridgeToken:    s.state.Bridge.AccessToken,
		SchedulerToken: s.state.Scheduler.AccessToken,
	}, pub, s.log)
	if err != nil {
		return err
	}
	restored, err := loadQueueState(s.o.DataDir, q)
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	s.queue = q
	s.onClose("the Taskcluster queue stand-in (state saved to "+queueStateFile+")", func() error {
		q.Close()
		return saveQueueState(s.o.DataDir, q)
	})
	s.state.QueueRootURL = q.RootURL()
	if err := s.state.save(s.o.DataDir); err != nil {
		return err
	}
	note := "no saved state"
	if restored >= 0 {
		note = fmt.Sprintf("%d tasks restored from %s", restored, queueStateFile)
	}
	progress(s.out, "Taskcluster queue stand-in at %s: claim timeout %s, state in memory, saved to %s (%s)",
		q.RootURL(), s.o.ClaimTimeout, queueStateFile, note)
	return nil
}

func (s *stack) openSchedulerDB(ctx context.Context) (string, *schedulerdb.DB, error) {
	dbURL := s.o.SchedulerDB
	if dbURL == "" {
		// SQLAlchemy's absolute form: sqlite://// + /abs/path.
		dbURL = "sqlite:///" + filepath.Join(s.o.DataDir, schedulerFile)
	}
	db, err := schedulerdb.Open(ctx, dbURL)
	if err != nil {
		return "", nil, err
	}
	s.onClose("", func() error { return db.Close() })
	created, err := ensureBuildbotSchema(ctx, db)
	if err != nil {
		return "", nil, err
	}
	what := "existing Buildbot 0.8 schema"
	if created {
		what = "Buildbot 0.8 schema created"
	}
	progress(s.out, "scheduler DB %s (%s)", db.Redacted(), what)
	return dbURL, db, nil
}

func (s *stack) startBuildbot(ctx context.Context, db *schedulerdb.DB, pub *pulse.Publisher) error {
	sim, err := bbsim.New(bbsim.Options{
		DB:            db.SQL(),
		Driver:        db.Driver(),
		Publisher:     pub,
		Masters:       []string{masterName},
		Builders:      masterBuilders,
		PollInterval:  time.Second,
		Script:        script(s.o),
		SelfServeAddr: s.o.SelfServeAddr,
		Logger:        s.log.With("component", "bbsim"),
	})
	if err != nil {
		return err
	}
	if err := sim.Start(ctx); err != nil {
		return err
	}
	s.sim = sim
	s.onClose("the Buildbot master simulator", func() error { sim.Close(); return nil })
	progress(s.out, "Buildbot 0.8 master simulator %s polling the scheduler DB; self-serve at %s", masterName, sim.SelfServeURL())
	return nil
}

// startBridge runs the worker and the starter through internal/bridge,
// exactly as bin/worker and bin/starter do, with a generated config.json
// whose Buildbot keys are backend's.
func (s *stack) startBridge(ctx context.Context, amqpURL string, backend map[string]any) error {
	raw := bridgeConfig(s.o, s.state, s.queue.RootURL(), amqpURL, s.srv.FrontendAddr(), backend)
	cfg, err := writeBridgeConfig(s.o.DataDir, raw, s.log)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, s.runProcess(ctx, "worker", func(ctx context.Context) error {
		return bridge.RunWorker(ctx, cfg, s.log.With("process", "worker"))
	}))
	s.procs = append(s.procs, s.runProcess(ctx, "starter", func(ctx context.Context) error {
		return bridge.RunStarter(ctx, cfg, s.log.With("process", "starter"))
	}))
	// Messages published before the starter bound its queues would be lost
	// on the very first run; afterwards the durable queues keep them.
	vhost, err := vhostOf(amqpURL)
	if err != nil {
		return err
	}
	queues := []string{"task-pending", "task-exception"}
	if s.o.Buildbot == buildbotSim {
		// Buildbot 0.8's events; a real master pushes them over HTTP.
		queues = append(queues, "started", "log_uploaded")
	}
	for _, q := range queues {
		if err := s.waitBound(ctx, vhost, identity.QueueBasename+"/"+q); err != nil {
			return err
		}
	}
	progress(s.out, "bridge worker and starter running (config in %s)", filepath.Join(s.o.DataDir, configFile))
	return s.makeWorkerCurrent(ctx, cfg)
}

// makeWorkerCurrent makes this run's worker the current version of its
// Worker Deployment, as an operator does after a deploy: a demo restarted
// on changed code is a new version, which would otherwise wait for
// `temporal worker deployment set-current-version` while the tasks of the
// previous run wait for it.
func (s *stack) makeWorkerCurrent(ctx context.Context, cfg *config.Config) error {
	v, versioned, err := bridge.DeploymentVersion(cfg.Temporal)
	if err != nil || !versioned {
		return err
	}
	tc, err := temporalclient.Dial(ctx, s.srv.FrontendAddr(), cfg.Temporal.Namespace, s.log)
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := bridge.MakeCurrent(ctx, tc, v); err != nil {
		return err
	}
	progress(s.out, "worker is version %s of Worker Deployment %s, made current (README: Upgrading)", v.BuildID, v.DeploymentName)
	return nil
}

func (s *stack) runProcess(ctx context.Context, name string, f func(context.Context) error) *localdeploy.InProcess {
	// Not a child of ctx: at Ctrl-C the processes must stop in order
	// (starter, then worker, before the services they use), which close
	// does.
	p := localdeploy.RunInProcess(context.WithoutCancel(ctx), name, f)
	s.onClose("the bridge "+name, func() error { return p.Stop(45 * time.Second) })
	return p
}

// waitBound waits until the starter has declared and bound queue.
func (s *stack) waitBound(ctx context.Context, vhost, queue string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	path := "/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(queue)
	for {
		bound, err := rabbitBound(ctx, path)
		if err == nil && bound {
			return nil
		}
		for _, p := range s.procs {
			if exited, perr := p.Exited(); exited {
				return fmt.Errorf("the bridge %s stopped at start: %v", p.Name, perr)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the starter did not bind %s: %w (last: %v)", queue, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func vhostOf(amqpURL string) (string, error) {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return "", errors.New("unparseable AMQP URL")
	}
	v := strings.TrimPrefix(u.Path, "/")
	if v == "" {
		return "/", nil
	}
	return url.PathUnescape(v)
}
