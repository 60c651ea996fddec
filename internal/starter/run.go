package starter

import (
	"context"
	"log/slog"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/health"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// TimingFromConfig is the operator's timing knobs as a task workflow takes
// them.
func TimingFromConfig(cfg *config.Config) signals.Timing {
	return signals.Timing{
		ReclaimLead:   cfg.Reclaim.Lead,
		FinishedGrace: cfg.FinishedGrace,
		CheckInterval: cfg.Reflector.Interval,
	}
}

// BindingsFromConfig names the bridge's queues and bindings from cfg.
func BindingsFromConfig(cfg *config.Config) pulse.BridgeBindings {
	return pulse.Bindings(cfg.PulseQueueBasename, cfg.TCListener.PulseExchangeBasename,
		cfg.TCListener.ProvisionerID, cfg.TCListener.WorkerType, cfg.BBListener.PulseExchange)
}

// Run consumes the bridge's Pulse queues until ctx ends, signalling task
// workflows through tc; with a modern Buildbot (cfg.Buildbot) it also takes
// the master's pushes on buildbot.events_listen, and db is nil. It serves
// GET /healthz on starter.listen (200 once every queue is being consumed,
// 503 before). When ctx ends it stops consuming, lets the handlers in
// flight finish and returns nil.
func Run(ctx context.Context, cfg *config.Config, db SchedulerDB, tc TemporalClient, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	router, err := New(tc, db, Options{
		TaskQueue: cfg.Temporal.TaskQueue,
		Timing:    TimingFromConfig(cfg),
		Logger:    log,
	})
	if err != nil {
		return err
	}
	if cfg.Buildbot != nil {
		stop, err := servePushes(cfg.Buildbot, router, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	b := BindingsFromConfig(cfg)
	consumer, err := pulse.NewConsumer(pulse.ConsumerOptions{
		URL:             string(cfg.PulseURL),
		TLS:             cfg.PulseTLS.ClientConfig(),
		DeadLetterQueue: b.DeadLetterQueue,
		Prefetch:        cfg.Starter.Prefetch,
		Logger:          log,
	}, router.Subscriptions(b)...)
	if err != nil {
		return err
	}
	if cfg.Starter.Listen != "" {
		stop, err := health.Serve(cfg.Starter.Listen, "starter.listen", consumer.Ready, "not consuming every queue yet", log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var queues []string
	for _, s := range router.Subscriptions(b) {
		queues = append(queues, s.Binding.Queue)
	}
	log.Info("starter: consuming Pulse", "broker", cfg.PulseURLRedacted(), "queues", queues,
		"task_queue", cfg.Temporal.TaskQueue)
	err = consumer.Run(ctx)
	log.Info("starter: stopped")
	return err
}
