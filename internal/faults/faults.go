package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Fault is one line of the matrix: the deployment it needs, the tasks'
// shape, and what strikes while they run.
type Fault struct {
	Name    string
	Summary string
	// Quick faults run in -quick mode (CI).
	Quick bool
	// Workers and Starters are how many of each run at the start.
	Workers, Starters int
	// StarterEnv, when set, runs starter-1 as bbb-faults-proc with this
	// environment (its fault hook).
	StarterEnv []string
	// MinBuild and MaxBuild bound each build's length.
	MinBuild, MaxBuild time.Duration
	// Shape adjusts task i's plan (outcome, note) before anything runs.
	Shape func(i int, t *plannedTask)
	// Setup runs once the tasks are planned, before any is created.
	Setup func(d *deployment)
	// Strike runs while the tasks are created; it returns once the fault
	// has healed. outage is how long outages last in this mode.
	Strike func(ctx context.Context, d *deployment, outage time.Duration) error
	// Outage is the outage length of the full run, QuickOutage of -quick
	// (0: same).
	Outage, QuickOutage time.Duration
	// ForOutage, when set, fits the fault to the outage length of the
	// mode before anything is planned: its claim period, its builds.
	ForOutage func(f *Fault, outage time.Duration)
	// ClaimTimeout is the stand-in queue's claim period (0: claimTimeout).
	ClaimTimeout time.Duration
	// OwnTemporal runs Temporal in a process of its own on a SQLite file
	// (Options.TemporalCommand) instead of the embedded in-memory server,
	// so that the fault can kill it and start it again on the same
	// history and address (deployment.temporal).
	OwnTemporal bool
	// QueueClock is the stand-in queue's clock (nil: real time).
	QueueClock tcfake.Clock
	// Check, when set, looks for violations of the fault's own once the
	// tasks have settled; each counts as "other".
	Check func(d *deployment) []string
}

// claim is the fault's claim period in the stand-in queue.
func (f Fault) claim() time.Duration {
	if f.ClaimTimeout > 0 {
		return f.ClaimTimeout
	}
	return claimTimeout
}

// Catalogue lists every fault, in the order.
func Catalogue() []Fault {
	return []Fault{
		{
			Name: "worker-sigkill", Quick: true, Workers: 1, Starters: 1,
			Summary:  "the worker SIGKILLed mid-build and restarted, twice",
			MinBuild: 15 * time.Second, MaxBuild: 45 * time.Second,
			Strike: strikeWorkerKills,
		},
		{
			Name: "multihomed", Workers: 2, Starters: 2,
			Summary:  "two workers and two starters; one of each SIGKILLed for good mid-run",
			MinBuild: 15 * time.Second, MaxBuild: 45 * time.Second,
			Strike: strikeMultihomed,
		},
		{
			Name: "starter-dies-before-signal", Quick: true, Workers: 1, Starters: 1,
			Summary: "the starter kills itself after decoding a message, before signalling Temporal " +
				"(40th task-pending, then 60th Buildbot event), and is restarted",
			StarterEnv: []string{DieBeforeEnv + "=SignalWithStartWorkflow:40"},
			MinBuild:   5 * time.Second, MaxBuild: 30 * time.Second,
			Strike: strikeStarterDeaths,
		},
		{
			Name: "rabbitmq-restart", Workers: 1, Starters: 1,
			Summary:  "the broker stopped cleanly mid-run and started again on its own data",
			MinBuild: 20 * time.Second, MaxBuild: 50 * time.Second,
			Strike: strikeRabbitRestart, Outage: 5 * time.Second,
		},
		{
			Name: "mariadb-outage", Quick: true, Workers: 1, Starters: 1,
			Summary:  "the scheduler DB server stopped mid-run, started again after the outage",
			MinBuild: 20 * time.Second, MaxBuild: 50 * time.Second,
			Strike: strikeMariaDBOutage, Outage: 60 * time.Second, QuickOutage: 20 * time.Second,
		},
		{
			Name: "tc-flaky", Quick: true, Workers: 1, Starters: 1,
			Summary: "the queue answers 500/503 to 30% of calls (half after applying them); " +
				"1 task in 10 is cancelled as its run is claimed (409)",
			MinBuild: 5 * time.Second, MaxBuild: 30 * time.Second,
			Shape:  shapeClaimRace,
			Setup:  setupClaimRace,
			Strike: strikeFlakyQueue, Outage: 60 * time.Second, QuickOutage: 30 * time.Second,
		},
		{
			Name: "tc-hangs", Workers: 1, Starters: 1,
			Summary: "the queue does not answer 10% of calls for longer than the bridge's call timeout " +
				"(half after applying them)",
			MinBuild: 20 * time.Second, MaxBuild: 60 * time.Second,
			Strike: strikeHungQueue, Outage: 90 * time.Second, QuickOutage: 45 * time.Second,
		},
		{
			Name: "buildbot-events", Quick: true, Workers: 1, Starters: 1,
			Summary:  "build events: every one twice (with log_uploaded before started), started lost, log_uploaded lost",
			MinBuild: 2 * time.Second, MaxBuild: 20 * time.Second,
			Shape:  shapeEvents,
			Strike: func(context.Context, *deployment, time.Duration) error { return nil },
		},
		{
			Name: "temporal-outage", Quick: true, Workers: 1, Starters: 1, OwnTemporal: true,
			Summary: "the Temporal server (a process of its own) SIGKILLed as the first reclaims fall due " +
				"and started again on the same persistence after the outage; 1 task in 10 created meanwhile",
			MinBuild: 20 * time.Second,
			Shape:    shapeLateTasks, ForOutage: fitTemporalOutage,
			Strike: strikeTemporalOutage, Outage: 60 * time.Second, QuickOutage: 5 * time.Second,
		},
		clockSkew("clock-skew-ahead", 3*time.Minute),
		clockSkew("clock-skew-behind", -3*time.Minute),
		{
			Name: "selfserve-down", Workers: 1, Starters: 1,
			Summary:  "self-serve answers 503 while 1 task in 10 is cancelled in TC with its build running and 1 in 10 with its request pending",
			MinBuild: 5 * time.Second, MaxBuild: 30 * time.Second,
			Shape:  shapeSelfServeCancels,
			Strike: strikeSelfServeDown, Outage: 60 * time.Second, QuickOutage: 30 * time.Second,
		},
	}
}

func strikeWorkerKills(ctx context.Context, d *deployment, _ time.Duration) error {
	for round := 1; round <= 2; round++ {
		n := d.waitBuilds(ctx, len(d.tasks)/3, 2*time.Minute)
		d.kill("worker-1")
		d.note("worker SIGKILLed with %d builds running", n)
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return err
		}
		if _, err := d.start(ctx, "worker-1", nil); err != nil {
			return err
		}
		if err := sleepCtx(ctx, 15*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func strikeMultihomed(ctx context.Context, d *deployment, _ time.Duration) error {
	n := d.waitBuilds(ctx, len(d.tasks)/3, 2*time.Minute)
	d.kill("worker-2")
	d.kill("starter-2")
	d.note("worker-2 and starter-2 SIGKILLed for good with %d builds running", n)
	return nil
}

func strikeStarterDeaths(ctx context.Context, d *deployment, _ time.Duration) error {
	next := [][]string{{DieBeforeEnv + "=SignalWorkflow:60"}, nil}
	for _, env := range next {
		p := d.current("starter-1")
		select {
		case <-p.Done():
		case <-time.After(3 * time.Minute):
			return fmt.Errorf("starter-1 did not reach its fault hook within 3 min")
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, selfKilled := scanLog(p.LogPath); !selfKilled {
			return fmt.Errorf("starter-1 exited without its fault hook firing; log %s", p.LogPath)
		}
		d.note("%s died before signalling", p.Name)
		if _, err := d.start(ctx, "starter-1", env); err != nil {
			return err
		}
	}
	return nil
}

func strikeRabbitRestart(ctx context.Context, d *deployment, outage time.Duration) error {
	// Tasks are all created first: the stand-in queue drops a message it
	// cannot publish within 10 s, which would lose a task-pending that a
	// real queue keeps retrying.
	if err := d.waitCreated(ctx); err != nil {
		return err
	}
	n := d.waitBuilds(ctx, len(d.tasks)/3, 2*time.Minute)
	t0 := time.Now()
	if err := d.run.rabbit.Stop(); err != nil {
		return err
	}
	stopped := time.Since(t0)
	if err := sleepCtx(ctx, outage); err != nil {
		return err
	}
	t1 := time.Now()
	if err := d.run.rabbit.Start(ctx); err != nil {
		return err
	}
	d.note("broker stopped with %d builds running (stop %s, down %s, start %s)", n,
		stopped.Round(100*time.Millisecond), time.Since(t0).Round(time.Second), time.Since(t1).Round(100*time.Millisecond))
	return nil
}

func strikeMariaDBOutage(ctx context.Context, d *deployment, outage time.Duration) error {
	n := d.waitBuilds(ctx, len(d.tasks)/3, 2*time.Minute)
	t0 := time.Now()
	if err := d.run.mariadb.Stop(); err != nil {
		return err
	}
	if err := sleepCtx(ctx, outage); err != nil {
		return err
	}
	t1 := time.Now()
	if err := d.run.mariadb.Start(ctx); err != nil {
		return err
	}
	d.note("MariaDB down %s with %d builds running (restart %s)", time.Since(t0).Round(time.Second), n, time.Since(t1).Round(100*time.Millisecond))
	return nil
}

// shapeClaimRace makes 1 task in 10 a task cancelled as it is claimed.
func shapeClaimRace(i int, t *plannedTask) {
	if i%10 == 5 {
		t.outcome = CancelledOutcome(false)
		t.note = "cancel races the claim"
	}
}

func setupClaimRace(d *deployment) {
	for _, t := range d.tasks {
		if t.outcome.CancelInTC {
			d.proxy.Race(t.id)
		}
	}
}

func strikeFlakyQueue(ctx context.Context, d *deployment, outage time.Duration) error {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(6, 1))
	var faulted, applied int
	d.Queue.SetFault(func(method string) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= 0.30 {
			return 0, false
		}
		faulted++
		status := 500
		if rng.IntN(2) == 0 {
			status = 503
		}
		after := rng.IntN(2) == 0
		if after {
			applied++
		}
		return status, after
	})
	if err := d.waitCreated(ctx); err != nil {
		return err
	}
	err := sleepCtx(ctx, outage)
	d.Queue.SetFault(nil)
	mu.Lock()
	raced, errs := d.proxy.Raced()
	d.note("%d calls answered 5xx (%d after applying them) for %s after the last task was created; %d claims raced a cancel",
		faulted, applied, outage, raced)
	mu.Unlock()
	for _, e := range errs {
		d.note("race cancel failed: %v", e)
	}
	return err
}

// hangHold outlasts the bridge's longest call timeout to TC (30 s).
const hangHold = 40 * time.Second

func strikeHungQueue(ctx context.Context, d *deployment, outage time.Duration) error {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(15, 2))
	d.proxy.Hang(func() (bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= 0.10 {
			return false, false
		}
		return true, rng.IntN(2) == 0
	}, hangHold)
	if err := d.waitCreated(ctx); err != nil {
		return err
	}
	err := sleepCtx(ctx, outage)
	d.proxy.Hang(nil, 0)
	held, applied := d.proxy.Held()
	d.note("%d calls held past the call timeout (%d after the queue applied them) until %s after the last task was created",
		held, applied, outage)
	return err
}

func shapeEvents(i int, t *plannedTask) {
	t.outcome, t.note = EventFault(i, t.outcome)
}

// shapeSelfServeCancels makes 1 task in 10 a running build to cancel and 1
// in 10 a request no master serves, to cancel while pending.
func shapeSelfServeCancels(i int, t *plannedTask) {
	switch i % 10 {
	case 5:
		t.outcome, t.note = CancelledOutcome(false), "cancelled while running"
	case 7:
		t.outcome, t.note = CancelledOutcome(true), "cancelled while pending"
	}
}

func strikeSelfServeDown(ctx context.Context, d *deployment, outage time.Duration) error {
	if err := d.waitCreated(ctx); err != nil {
		return err
	}
	var targets []string
	for _, t := range d.tasks {
		if t.outcome.CancelInTC {
			targets = append(targets, t.id)
		}
	}
	// Every target should have its BuildRequest (a task cancelled before
	// has nothing to cancel in Buildbot) and the running ones their build.
	d.waitBuildRequests(ctx, targets, 2*time.Minute)
	n := d.waitBuilds(ctx, len(targets)/2+len(d.tasks)/10, 2*time.Minute)
	d.Sim.SetSelfServeDown(true)
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(targets))
	work := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := d.cancelTask(ctx, id); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, id := range targets {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	err := sleepCtx(ctx, outage-time.Since(t0))
	d.Sim.SetSelfServeDown(false)
	refused := 0
	for _, c := range d.Sim.SelfServeCalls() {
		if c.Status == 503 {
			refused++
		}
	}
	d.note("self-serve down %s; %d tasks cancelled in TC meanwhile (%d builds running); %d self-serve calls refused",
		time.Since(t0).Round(time.Second), len(targets), n, refused)
	return err
}
