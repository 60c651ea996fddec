package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// demoQueueBasename prefixes the bridge's Pulse queue names in the demo.
const demoQueueBasename = "queue/bbb-demo"

// bridgeConfig is the config.json the demo's worker and starter run with,
// pointing at the stand-ins, with backend's keys for the Buildbot.
func bridgeConfig(o options, st *demoState, queueRootURL, amqpURL, temporalAddr string, backend map[string]any) map[string]any {
	raw := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     queueRootURL,
			"credentials": map[string]any{"clientId": st.Bridge.ClientID, "accessToken": st.Bridge.AccessToken},
		},
		"pulse_url":            amqpURL,
		"pulse_queue_basename": demoQueueBasename,
		"tc_worker_group":      workerGroup,
		"tc_worker_id":         workerID,
		"restricted_builders":  []string{"^release-"},
		"ignored_builders":     []string{"^ignored-"},
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             workerType,
			"provisioner_id":          provisionerID,
		},
		"reflector": map[string]any{"interval": int(o.ReflectorInterval.Seconds())},
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
	for k, v := range backend {
		raw[k] = v
	}
	return raw
}

// backend08 are the original bridge's keys for Buildbot 0.8: the
// scheduler DB, self-serve and the build events on Pulse. The
// allowed-builders list is the simulated master's own, as production's
// came from the masters' build data, so a task for a builder no master has
// ends malformed-payload instead of waiting forever.
func backend08(schedulerDB, selfServeURL, buildersURL string) map[string]any {
	return map[string]any{
		"buildbot_scheduler_db": schedulerDB,
		"selfserve_url":         selfServeURL,
		"allowed_builders_url":  buildersURL,
		"bblistener":            map[string]any{"pulse_exchange": "exchange/build"},
	}
}

// backendREST is the buildbot section for a modern master: its REST API,
// the bridge's force scheduler, and where the master pushes its events.
// The master itself tells which builders exist, so a task for any other
// ends malformed-payload without an allowed-builders list.
func backendREST(apiURL, forceScheduler, eventsListen, eventsPassword string) map[string]any {
	return map[string]any{"buildbot": map[string]any{
		"api_url":         apiURL,
		"force_scheduler": forceScheduler,
		"events_listen":   eventsListen,
		"events_password": eventsPassword,
	}}
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
