package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// deployment is one benchmark run's pieces, torn down by Close in reverse.
type deployment struct {
	o     Options
	dir   string
	rec   *recorder
	quiet *slog.Logger

	// prefillTime is how long filling the scheduler DB took.
	prefillTime time.Duration

	localdeploy.Cleanups
}

// runInDeployment fills in o's defaults and runs run in a fresh
// deployment, whose work directory (config, children's logs) it keeps only
// when the run found problems.
func runInDeployment[R interface{ outcome() *Outcome }](ctx context.Context, o Options, prefix string,
	run func(*deployment, context.Context) (R, error)) (R, error) {
	var none R
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeout == 0 {
		o.Timeout = 3*time.Minute + time.Duration(o.Tasks)*100*time.Millisecond
	}
	if o.Services == (localdeploy.Services{}) {
		o.Services = localdeploy.DefaultServices()
	}
	workDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return none, err
	}
	d := &deployment{o: o, dir: workDir, rec: newRecorder(), quiet: localdeploy.QuietLogger()}
	defer d.Close()
	res, err := run(d, ctx)
	if err != nil {
		return none, fmt.Errorf("%w (child logs in %s)", err, workDir)
	}
	// Logs are only worth keeping when something went wrong.
	if out := res.outcome(); len(out.Problems) == 0 {
		os.RemoveAll(workDir)
	} else {
		out.LogDir = workDir
	}
	return res, nil
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
	d.Defer(func() { cancel(); <-done })
}

func (d *deployment) run(ctx context.Context) (*Result, error) {
	o, log := d.o, d.o.Log
	res := &Result{Tasks: o.Tasks, Prefill: o.Prefill, SQLite: o.SQLite, Rate: o.Rate}
	st, err := d.startStack(ctx, stackConfig{
		pollInterval: 100 * time.Millisecond,
		script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 0}),
	})
	if err != nil {
		return nil, err
	}
	res.PrefillTime = d.prefillTime
	res.Temporal = st.Temporal.Describe
	queue, worker, starter := st.Queue, st.worker, st.starter
	log.Info("bridge running; creating tasks", "tasks", o.Tasks, "rate", o.Rate)

	runStart := time.Now()
	selfStart, err := localdeploy.ReadProcStats(os.Getpid())
	if err != nil {
		return nil, err
	}
	pgStart, pgErr := persistenceCPU(st.Temporal)
	ids, err := createTasks(ctx, st.Scheduler, o.Tasks, o.Rate, d.rec, "bench", benchDeadline)
	if err != nil {
		return nil, err
	}
	res.Creation = time.Since(runStart)
	if err := waitResolved(ctx, queue, ids, o.Timeout, st.errc, log); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Wall = time.Since(runStart)
	selfEnd, err := localdeploy.ReadProcStats(os.Getpid())
	if err != nil {
		return nil, err
	}
	res.BenchCPU = selfEnd.CPU - selfStart.CPU
	if pgEnd, err := persistenceCPU(st.Temporal); pgErr == nil && err == nil && st.Temporal.PersistencePid != 0 {
		res.PersistenceCPU, res.PersistenceMeasured = pgEnd-pgStart, true
	}
	if res.Worker, err = worker.Stats(); err != nil {
		return nil, err
	}
	if res.Starter, err = starter.Stats(); err != nil {
		return nil, err
	}
	if st.counter != nil {
		res.BridgeSQL = st.counter.Counts()
	}
	if err := worker.Stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if err := starter.Stop(time.Minute); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}

	d.measureBridge(ctx, res, queue, st.Temporal.Client, ids)
	log.Info("bridge measured; running the floor", "lifecycles_per_s", fmt.Sprintf("%.1f", res.Lifecycles))

	if err := d.runFloor(ctx, res, st.AMQPURL, st.dbURL, queue.RootURL(), st.Config.AccessToken, st.Scheduler, o.Services); err != nil {
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

// persistenceCPU is the CPU used so far by the database server holding
// Temporal's persistence, when it runs on this machine apart from Temporal.
func persistenceCPU(t localdeploy.Temporal) (time.Duration, error) {
	if t.PersistencePid == 0 {
		return 0, nil
	}
	return localdeploy.ProcessTreeCPU(t.PersistencePid)
}
