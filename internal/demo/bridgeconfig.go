package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// bridgeConfig is the config.json the demo's worker and starter run with,
// pointing at the stand-ins, with backend's keys for the Buildbot.
func bridgeConfig(o options, st *demoState, queueRootURL, amqpURL, temporalAddr string, backend map[string]any) map[string]any {
	raw := localdeploy.BridgeConfig{
		Identity:           st.identity(),
		RootURL:            queueRootURL,
		AccessToken:        st.Bridge.AccessToken,
		AMQPURL:            amqpURL,
		Backend:            backend,
		TemporalAddress:    temporalAddr,
		Namespace:          namespace,
		TaskQueue:          config.DefaultTemporalTaskQueue,
		WorkerListen:       o.WorkerListen,
		StarterListen:      o.StarterListen,
		ReflectorInterval:  o.ReflectorInterval,
		FinishedGrace:      o.FinishedGrace,
		ReclaimLead:        300 * time.Second,
		RestrictedBuilders: []string{"^release-"},
		IgnoredBuilders:    []string{"^ignored-"},
	}.Raw()
	if o.BuildID != "" {
		raw["temporal"].(map[string]any)["build_id"] = o.BuildID
	}
	return raw
}

// backend08 are the original bridge's keys for Buildbot 0.8, with the
// simulated master's allowed-builders list, as production's came from the
// masters' build data: a task for a builder no master has ends
// malformed-payload instead of waiting forever.
func backend08(schedulerDB, selfServeURL, buildersURL string) map[string]any {
	b := localdeploy.Backend08(schedulerDB, selfServeURL)
	b["allowed_builders_url"] = buildersURL
	return b
}

// writeBridgeConfig saves raw as <data>/config.json, for the curious (it is
// a complete config.json of a real deployment) and parses it as the
// processes would.
func writeBridgeConfig(dir string, raw map[string]any, log *slog.Logger) (*config.Config, error) {
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, configFile), append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return localdeploy.ParseConfig(raw, log)
}
