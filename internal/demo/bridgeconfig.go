package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// demoQueueBasename prefixes the bridge's Pulse queue names in the demo.
const demoQueueBasename = "queue/bbb-demo"

// bridgeConfig is the config.json the demo's worker and starter run with:
// the original bridge's keys plus the new ones, pointing at the stand-ins.
// The allowed-builders list is the simulated master's own, as production's
// came from the masters' build data, so a task for a builder no master has
// ends malformed-payload instead of waiting forever.
func bridgeConfig(o options, st *demoState, queueRootURL, schedulerDB, selfServeURL, buildersURL, amqpURL, temporalAddr string) map[string]any {
	return map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     queueRootURL,
			"credentials": map[string]any{"clientId": st.Bridge.ClientID, "accessToken": st.Bridge.AccessToken},
		},
		"buildbot_scheduler_db": schedulerDB,
		"selfserve_url":         selfServeURL,
		"pulse_url":             amqpURL,
		"pulse_queue_basename":  demoQueueBasename,
		"tc_worker_group":       workerGroup,
		"tc_worker_id":          workerID,
		"restricted_builders":   []string{"^release-"},
		"ignored_builders":      []string{"^ignored-"},
		"allowed_builders_url":  buildersURL,
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             workerType,
			"provisioner_id":          provisionerID,
		},
		"bblistener": map[string]any{"pulse_exchange": "exchange/build"},
		"reflector":  map[string]any{"interval": int(o.ReflectorInterval.Seconds())},
		"temporal": map[string]any{
			"address":    temporalAddr,
			"namespace":  namespace,
			"task_queue": config.DefaultTemporalTaskQueue,
		},
		"reclaim":                map[string]any{"lead_seconds": 300},
		"finished_grace_seconds": int(o.FinishedGrace.Seconds()),
		"worker":                 map[string]any{"listen": o.WorkerListen},
		"starter":                map[string]any{"listen": o.StarterListen},
	}
}

// writeBridgeConfig saves raw as <data>/config.json, for the curious (it is
// a complete config.json of a real deployment) and parses it as the
// processes would. The environment is not consulted: a TASKCLUSTER_ROOT_URL
// left in the shell must not point the demo at a real Taskcluster.
func writeBridgeConfig(dir string, raw map[string]any, log *slog.Logger) (*config.Config, error) {
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, configFile), append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return config.Parse(data, func(string) string { return "" }, log)
}
