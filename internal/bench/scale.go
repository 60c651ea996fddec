package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Scale configures the scale run (issue 5, item 3): Options.Tasks builds
// held running at once while the stand-in queue's claim timeout is scaled
// down, so that the bridge reclaims far more often than at the real 20
// minutes (every 80 s at 120 s instead of every 900 s).
type Scale struct {
	// ClaimTimeout is the stand-in queue's claim timeout (default 120 s).
	ClaimTimeout time.Duration
	// Periods is how many claim periods the builds are held open after
	// the last one started (default 3).
	Periods int
	// FinishRate is builds finished per second at the end; 0 finishes
	// them all at once, a burst of finished and log_uploaded events.
	FinishRate float64
}

// RealClaimTimeout is the real Taskcluster queue's claim timeout, which the
// TC-calls-per-task-hour figure is projected to.
const RealClaimTimeout = tcfake.DefaultClaimTimeout

// scaleReclaimLead is reclaim.lead_seconds as the scale run configures it:
// the bridge's default, written out so the projection uses the same value.
const scaleReclaimLead = 300 * time.Second

// scalePollInterval is the simulated masters' poll: 5,000 running builds
// are 5,000 incomplete BuildRequests that every poll reads, and a second
// between polls only delays a build's start, which the scale run does not
// measure.
const scalePollInterval = time.Second

// sampleInterval is how often the scale run counts running builds.
const sampleInterval = 2 * time.Second

// RunScale starts o.Tasks builds that run until told to finish, holds them
// for sc.Periods claim periods after the last one started, then finishes
// them all and waits until every task resolves.
func RunScale(ctx context.Context, o Options, sc Scale) (*ScaleResult, error) {
	if o.Tasks <= 0 {
		return nil, errors.New("bench: the scale run needs a positive number of builds")
	}
	if sc.ClaimTimeout == 0 {
		sc.ClaimTimeout = 120 * time.Second
	}
	if sc.Periods == 0 {
		sc.Periods = 3
	}
	if sc.ClaimTimeout < 3*time.Second || sc.Periods < 0 {
		return nil, errors.New("bench: the claim timeout must be at least 3 s and the periods positive")
	}
	return runInDeployment(ctx, o, "bbb-bench-scale-", func(d *deployment, ctx context.Context) (*ScaleResult, error) {
		return d.runScale(ctx, sc)
	})
}

func (d *deployment) runScale(ctx context.Context, sc Scale) (*ScaleResult, error) {
	o, log := d.o, d.o.Log
	res := &ScaleResult{Builds: o.Tasks, ClaimTimeout: sc.ClaimTimeout, Periods: sc.Periods, FinishRate: sc.FinishRate,
		ReclaimLead: scaleReclaimLead, Prefill: o.Prefill, SQLite: o.SQLite}
	st, err := d.startStack(ctx, stackConfig{
		claimTimeout: sc.ClaimTimeout,
		pollInterval: scalePollInterval,
		script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: bbsim.Forever}),
		reclaimLead:  scaleReclaimLead,
		noWatcher:    true,
	})
	if err != nil {
		return nil, err
	}
	res.PrefillTime = d.prefillTime
	res.Temporal = st.Temporal.Describe
	res.TemporalSeparate = st.Temporal.Pid != 0
	res.PersistenceSeparate = st.Temporal.PersistencePid != 0
	procs := scaleProcs{worker: st.worker.Pid(), starter: st.starter.Pid(), temporal: st.Temporal.Pid, persistence: st.Temporal.PersistencePid}
	hold := time.Duration(sc.Periods) * sc.ClaimTimeout
	log.Info("bridge running; creating tasks whose builds run until finished",
		"builds", o.Tasks, "claim_timeout", sc.ClaimTimeout, "hold", hold)

	mon := newRunningMonitor(st.Queue, st.Sim)
	runStart := time.Now()
	start, err := procs.read()
	if err != nil {
		return nil, err
	}
	// Nothing may end the tasks but the finish: the deadline is beyond
	// every phase's timeout.
	deadline := max(benchDeadline, 3*o.Timeout+hold+time.Hour)
	ids, err := createTasks(ctx, st.Scheduler, o.Tasks, o.Rate, d.rec, "scale", deadline)
	if err != nil {
		return nil, err
	}
	mon.ids = ids

	// Ramp: every build running in Buildbot and claimed in TC.
	allRunning, err := mon.waitAll(ctx, runStart.Add(o.Timeout), st.errc, log)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
		allRunning = time.Now()
	}
	res.ToAllRunning = allRunning.Sub(runStart)
	ramped, err := procs.read()
	if err != nil {
		return nil, err
	}

	// Hold: the builds run on, the bridge reclaims.
	holdEnd := allRunning.Add(hold)
	log.Info("all builds running; holding them", "until", holdEnd.Format(time.TimeOnly))
	if err := mon.watchUntil(ctx, holdEnd, st.errc, log); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	held, err := procs.read()
	if err != nil {
		return nil, err
	}
	finishAt := time.Now()
	res.Hold = finishAt.Sub(allRunning)

	// Finish: every build succeeds, at once or at FinishRate.
	log.Info("finishing every build", "per_second", sc.FinishRate)
	if err := finishAll(ctx, st.Sim, sc.FinishRate); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if err := waitResolved(ctx, st.Queue, ids, o.Timeout, st.errc, log); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Finish = time.Since(finishAt)
	res.Wall = time.Since(runStart)
	end, err := procs.read()
	if err != nil {
		return nil, err
	}
	res.PeakTC, res.PeakBuildbot = mon.peaks()
	res.HoldMinTC, res.HoldMinBuildbot = mon.holdMin()
	res.RampCPU, res.HoldCPU, res.FinishCPU, res.Total = ramped.sub(start), held.sub(ramped), end.sub(held), end.sub(start)
	if err := st.worker.Stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if err := st.starter.Stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}

	calls := st.Queue.Calls()
	obs, _ := reclaimObservations(calls, claimTimes(st.Queue, ids), sc.ClaimTimeout, scaleReclaimLead)
	res.Reclaims = summarize(obs, time.Time{}, finishAt.Add(24*time.Hour))
	res.HoldReclaims = summarize(obs, allRunning, finishAt)
	res.Steady = steadyCalls(calls, allRunning, finishAt, o.Tasks)
	d.checkScaleOutcome(res, st, ids, calls)
	log.Info("reading every task's history")
	res.HistoryMean, res.HistoryMax, res.Actions = historyLengths(ctx, st.Temporal.Client, ids, &res.Problems)
	return res, nil
}

// finishAll ends every running build of the simulated masters with
// SUCCESS, rate per second (0: all at once).
func finishAll(ctx context.Context, sim *bbsim.Sim, rate float64) error {
	var errs []error
	start := time.Now()
	for i, b := range sim.Builds() {
		if !b.Finished.IsZero() {
			continue
		}
		if rate > 0 {
			at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(at)):
			}
		}
		if err := sim.FinishBuild(b.ID, bbsim.SUCCESS); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: %d builds could not be finished (first: %w)", len(errs), errs[0])
	}
	return nil
}
