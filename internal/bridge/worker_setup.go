package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// ensureSearchAttributes retries until the namespace has the bridge's
// search attributes: a worker polling without them would fail every
// workflow task that upserts one. It gives up only when ctx ends.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	wait := time.Second
	for {
		attempt, cancel := context.WithTimeout(ctx, startupTimeout)
		err := temporalclient.EnsureSearchAttributes(attempt, c, namespace)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("search attributes not ready; retrying", "namespace", namespace, "err", err, "retryIn", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// startSweep starts the one sweep workflow unless it already runs.
func startSweep(ctx context.Context, c client.Client, cfg *config.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       signals.SweepWorkflowID,
		TaskQueue:                cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, signals.SweepWorkflowType, activities.Watermark{}, signals.Duration(cfg.Reflector.Interval))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		log.Info("sweep workflow already running", "workflowId", signals.SweepWorkflowID)
		return nil
	case err != nil:
		return fmt.Errorf("start sweep workflow: %w", err)
	}
	log.Info("sweep workflow running", "workflowId", run.GetID(), "runId", run.GetRunID(), "interval", cfg.Reflector.Interval)
	return nil
}

// allowedBuilders is nil when allowed_builders_url is not configured.
func allowedBuilders(cfg *config.Config, log *slog.Logger) *activities.AllowedBuilders {
	if cfg.AllowedBuildersURL == "" {
		return nil
	}
	return activities.NewAllowedBuilders(cfg.AllowedBuildersURL, cfg.AllowedBuildersRefresh, nil, log)
}

// buildbotBackend is the Buildbot side the config chooses.
func buildbotBackend(cfg *config.Config, db *schedulerdb.DB, log *slog.Logger) (activities.Buildbot, error) {
	if b := cfg.Buildbot; b != nil {
		api, err := buildbotrest.New(buildbotrest.Config{APIURL: b.APIURL, User: b.User, Password: string(b.Password)})
		if err != nil {
			return nil, fmt.Errorf("buildbot.api_url: %w", err)
		}
		return activities.NewBuildbotREST(api, b.ForceScheduler, log), nil
	}
	return activities.NewBuildbot08(db, selfserve.New(cfg.SelfServeURL, nil), log), nil
}
