package localdeploy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Options shape a deployment. The caller owns the services: it makes the
// vhost and the database (fresh ones, or servers of its own) and passes
// their URLs.
type Options struct {
	Identity Identity
	// Temporal starts the Temporal server (required): embedtemporal's,
	// a server in a process of its own, or a test's.
	Temporal func() (Temporal, error)
	// AMQPURL is the vhost the stand-ins publish to and the bridge
	// consumes from.
	AMQPURL string
	Queue   QueueOptions
	// Buildbot08 adds a Buildbot 0.8: scheduler DB and simulated masters.
	// Without it the caller starts a Buildbot and sets Config.Backend.
	Buildbot08 *Buildbot08
	// Log receives the stand-ins' lines; nil discards them.
	Log *slog.Logger
}

// QueueOptions shape the stand-in Taskcluster queue (tcfake.Options tells
// the defaults of the first four).
type QueueOptions struct {
	Addr             string
	ClaimTimeout     time.Duration
	DeadlineDelay    time.Duration
	ResolverInterval time.Duration
	// BridgeToken and SchedulerToken are the two clients' access tokens;
	// empty: random.
	BridgeToken, SchedulerToken string
	// SchedulerRetry is how the scheduler's client retries (default
	// DefaultRetry).
	SchedulerRetry Retry
	// Clock is the queue's clock (default: real time).
	Clock tcfake.Clock
}

// Buildbot08 shapes a Buildbot 0.8: its scheduler DB, with Buildbot's
// schema created, and simulated masters with self-serve on it.
type Buildbot08 struct {
	// SchedulerDB is the database's URL (mysql:// or sqlite:///).
	SchedulerDB string
	// BridgeDB is the URL the bridge is given, when it reaches the
	// database another way (the benchmark's statement counter); default
	// SchedulerDB.
	BridgeDB string
	// Prepare runs on the database once the schema exists, before
	// anything else starts (the benchmark's prefill).
	Prepare func(context.Context, *schedulerdb.DB) error
	// Sim are the masters' options; DB, Driver and Publisher are filled
	// in, and Logger if nil.
	Sim bbsim.Options
}

// Deployment is a running deployment, the bridge's processes aside.
type Deployment struct {
	Identity Identity
	Temporal Temporal
	AMQPURL  string
	Queue    *tcfake.Queue
	// Scheduler is the scheduler's client of the queue: it creates the
	// tasks (and cancels or reruns them).
	Scheduler *tcqueue.Queue
	// DB and Sim are Buildbot 0.8's, nil without it.
	DB  *schedulerdb.DB
	Sim *bbsim.Sim
	// Config is the bridge's config.json but for what each process has
	// of its own (StartChild fills in the health endpoints). A caller
	// changes it before starting the processes.
	Config BridgeConfig

	Cleanups
}

// Start brings a deployment up: the scheduler DB, Temporal, the stand-in
// queue and the simulated masters, each stand-in with a Pulse publisher of
// its own. On an error it stops what it started.
func Start(ctx context.Context, o Options) (*Deployment, error) {
	if o.Temporal == nil {
		return nil, errors.New("localdeploy: Options.Temporal is required")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Deployment{Identity: o.Identity, AMQPURL: o.AMQPURL}
	if err := d.start(ctx, o, log); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Deployment) start(ctx context.Context, o Options, log *slog.Logger) error {
	var err error
	if b := o.Buildbot08; b != nil {
		if err := d.openSchedulerDB(ctx, b); err != nil {
			return err
		}
	}
	if d.Temporal, err = o.Temporal(); err != nil {
		return err
	}
	if d.Temporal.Stop != nil {
		d.Defer(d.Temporal.Stop)
	}

	qo := o.Queue
	if qo.BridgeToken == "" {
		qo.BridgeToken = RandomToken()
	}
	if qo.SchedulerToken == "" {
		qo.SchedulerToken = RandomToken()
	}
	if qo.SchedulerRetry == (Retry{}) {
		qo.SchedulerRetry = DefaultRetry
	}
	pub, err := d.publisher(ctx)
	if err != nil {
		return err
	}
	if d.Queue, err = NewQueue(o.Identity, qo, pub, log); err != nil {
		return err
	}
	if err := d.Queue.Start(ctx); err != nil {
		return err
	}
	d.Defer(d.Queue.Close)
	d.Scheduler = QueueClient(d.Queue.RootURL(), o.Identity.SchedulerClientID, qo.SchedulerToken, qo.SchedulerRetry)
	d.Config = BridgeConfig{
		Identity:        o.Identity,
		RootURL:         d.Queue.RootURL(),
		AccessToken:     qo.BridgeToken,
		AMQPURL:         o.AMQPURL,
		TemporalAddress: d.Temporal.HostPort,
		Namespace:       d.Temporal.Namespace,
		TaskQueue:       config.DefaultTemporalTaskQueue,
	}

	if b := o.Buildbot08; b != nil {
		if err := d.startSim(ctx, b, log); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deployment) openSchedulerDB(ctx context.Context, b *Buildbot08) error {
	db, err := schedulerdb.Open(ctx, b.SchedulerDB)
	if err != nil {
		return err
	}
	d.DB = db
	d.Defer(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		return err
	}
	if b.Prepare != nil {
		return b.Prepare(ctx, db)
	}
	return nil
}

func (d *Deployment) startSim(ctx context.Context, b *Buildbot08, log *slog.Logger) error {
	so := b.Sim
	if so.Logger == nil {
		so.Logger = log.With("component", "bbsim")
	}
	var err error
	if d.Sim, err = d.StartSim(ctx, so); err != nil {
		return err
	}
	bridgeDB := b.BridgeDB
	if bridgeDB == "" {
		bridgeDB = b.SchedulerDB
	}
	d.Config.Backend = Backend08(bridgeDB, d.Sim.SelfServeURL())
	return nil
}

// StartSim starts simulated masters on the deployment's scheduler DB and
// vhost, with a publisher of their own; o's DB, Driver and Publisher are
// filled in. Start starts the deployment's own; a test starts more, e.g.
// masters that poll only once it has set the DB up. They stop at Close.
func (d *Deployment) StartSim(ctx context.Context, o bbsim.Options) (*bbsim.Sim, error) {
	pub, err := d.publisher(ctx)
	if err != nil {
		return nil, err
	}
	o.DB, o.Driver, o.Publisher = d.DB.SQL(), d.DB.Driver(), pub
	sim, err := bbsim.New(o)
	if err != nil {
		return nil, err
	}
	if err := sim.Start(ctx); err != nil {
		return nil, err
	}
	d.Defer(sim.Close)
	return sim, nil
}

// publisher dials a Pulse publisher of the deployment's own. Each stand-in
// gets one (a connection): a Publisher waits for each confirm under one
// lock, so a shared one would make the stand-ins queue behind each other.
func (d *Deployment) publisher(ctx context.Context) (*pulse.Publisher, error) {
	pub, err := pulse.DialPublisher(ctx, d.AMQPURL)
	if err != nil {
		return nil, err
	}
	d.Defer(func() { pub.Close() })
	return pub, nil
}

// NewQueue makes the stand-in queue, not started yet (the demo restores
// its saved tasks first), with id's two clients.
func NewQueue(id Identity, o QueueOptions, pub *pulse.Publisher, log *slog.Logger) (*tcfake.Queue, error) {
	return tcfake.New(tcfake.Options{
		Addr:             o.Addr,
		ClaimTimeout:     o.ClaimTimeout,
		DeadlineDelay:    o.DeadlineDelay,
		ResolverInterval: o.ResolverInterval,
		Clock:            o.Clock,
		Publisher:        pub,
		Clients:          id.QueueClients(o.BridgeToken, o.SchedulerToken),
		Logger:           log.With("component", "tcfake"),
	})
}

// CreateTask creates t as taskID through the scheduler's client.
func (d *Deployment) CreateTask(taskID string, t Task) error {
	return d.Identity.CreateTask(d.Scheduler, taskID, t)
}

// ChildSpec is a worker or starter process to start.
type ChildSpec struct {
	// Kind is "worker" or "starter".
	Kind string
	// Name names its log and config files (default Kind): an incarnation
	// ("worker-1.2") when a process is restarted.
	Name string
	// Bin is the binary: ./worker or ./starter built, or a command that
	// runs either (bbb-bench-proc, bbb-faults-proc).
	Bin string
	// Dir holds its config file and log.
	Dir string
	// Env is added to its environment.
	Env []string
}

// StartChild runs a worker or starter with d.Config in a process of its
// own, its health endpoint on a free port, and waits until it is healthy.
// Each process has a config file of its own: the config refuses the same
// health address for both processes, and restarts need new ones.
func (d *Deployment) StartChild(ctx context.Context, s ChildSpec) (*Child, error) {
	name := s.Name
	if name == "" {
		name = s.Kind
	}
	listen, err1 := FreeAddr()
	other, err2 := FreeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	cfg := d.Config
	cfg.WorkerListen, cfg.StarterListen = listen, other
	if s.Kind == "starter" {
		cfg.WorkerListen, cfg.StarterListen = other, listen
	}
	path := filepath.Join(s.Dir, name+".json")
	if err := cfg.Write(path); err != nil {
		return nil, err
	}
	c, err := StartChild(name, s.Bin, path, listen, s.Dir, s.Env)
	if err != nil {
		return nil, err
	}
	if err := c.WaitHealthy(ctx, 2*time.Minute); err != nil {
		_ = c.Stop(time.Minute)
		return nil, err
	}
	return c, nil
}
