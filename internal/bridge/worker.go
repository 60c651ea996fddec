package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/health"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
)

// RunWorker is the worker process. Start-up, in order: open the scheduler
// DB and create bbb_tasks if missing (Buildbot 0.8); connect to Temporal; make sure the
// search attributes exist (the worker is not ready before); start the sweep
// workflow if it is not running; poll until ctx ends, then drain.
func RunWorker(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return RunWorkerWith(ctx, cfg, log, WorkerExtras{})
}

// RunWorkerWith is RunWorker with extras.
func RunWorkerWith(ctx context.Context, cfg *config.Config, log *slog.Logger, extra WorkerExtras) error {
	deployment, err := deploymentOptions(cfg.Temporal)
	if err != nil {
		return err
	}
	db, tc, closeAll, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := ensureSearchAttributes(ctx, tc, cfg.Temporal.Namespace, log); err != nil {
		return err
	}

	bb, err := buildbotBackend(cfg, db, log)
	if err != nil {
		return err
	}
	acts := activities.New(activities.Deps{
		Queue:              activities.NewQueue(cfg.Taskcluster.RootURL, cfg.Taskcluster.ClientID, string(cfg.Taskcluster.AccessToken)),
		WorkerGroup:        cfg.ClaimWorkerGroup(),
		WorkerID:           cfg.ClaimWorkerID(),
		Buildbot:           bb,
		IgnoredBuilders:    cfg.IgnoredBuilders,
		RestrictedBuilders: cfg.RestrictedBuilders,
		AllowedBuilders:    allowedBuilders(cfg, log),
		Temporal:           tc,
		TaskQueue:          cfg.Temporal.TaskQueue,
		Timing:             starter.TimingFromConfig(cfg),
		Logger:             log,
	})

	if err := startSweep(ctx, tc, cfg, log); err != nil {
		return err
	}

	w := newWorker(tc, cfg, acts, deployment, extra)
	var polling atomic.Bool
	stopHealth, err := health.Serve(cfg.Worker.Listen, "worker.listen", polling.Load, "not polling yet", log)
	if err != nil {
		return err
	}
	defer stopHealth()
	if err := w.Start(); err != nil {
		return fmt.Errorf("start polling task queue %s: %w", cfg.Temporal.TaskQueue, err)
	}
	polling.Store(true)
	log.Info("worker polling", "taskQueue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace,
		"workerGroup", cfg.ClaimWorkerGroup(), "workerId", cfg.ClaimWorkerID(),
		"deployment", deployment.Version.DeploymentName, "buildId", deployment.Version.BuildID)
	if deployment.UseVersioning {
		go promoteIfFirst(ctx, tc, deployment.Version, log)
	}
	<-ctx.Done()
	log.Info("stopping: waiting for running activities")
	w.Stop()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
