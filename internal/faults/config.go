package faults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// The deployment's identities; the bridge's credentials carry exactly the
// scopes it needs (REFERENCE §A), as in the end-to-end tests.
const (
	provisionerID  = "buildbot-bridge"
	workerType     = "buildbot-bridge"
	workerGroup    = "bbb-faults"
	workerID       = "bbb-faults-1"
	schedulerID    = "faults-scheduler"
	bridgeClientID = "project/releng/buildbot-bridge"
	schedClientID  = "faults-scheduler"
	buildExchange  = "exchange/build"
	queueBasename  = "queue/bbb-faults"
)

// Timing of every fault deployment. The claim timeout is short so that
// builds lasting tens of seconds are reclaimed during the run (at
// takenUntil − claim/3), which is what a claim-expired check needs to mean
// anything; production's 20 minutes would never reclaim in a run this short.
const (
	claimTimeout      = 90 * time.Second
	reflectorInterval = 5  // s: the sweep, and a not-yet-started task's look at its BuildRequest
	finishedGrace     = 10 // s: a complete BuildRequest waits this long for its log_uploaded
)

// bridgeConfig is one process's config.json; processes differ only in
// their health endpoints (the config refuses the same address for both).
type bridgeConfig struct {
	rootURL, bridgeToken, dbURL, selfServeURL, amqpURL string
	temporalAddr, namespace                            string
	workerListen, starterListen                        string
}

func (c bridgeConfig) write(path string) error {
	raw := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     c.rootURL,
			"credentials": map[string]any{"clientId": bridgeClientID, "accessToken": c.bridgeToken},
		},
		"buildbot_scheduler_db": c.dbURL,
		"selfserve_url":         c.selfServeURL,
		"pulse_url":             c.amqpURL,
		"pulse_queue_basename":  queueBasename,
		"tc_worker_group":       workerGroup,
		"tc_worker_id":          workerID,
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             workerType,
			"provisioner_id":          provisionerID,
		},
		"bblistener":             map[string]any{"pulse_exchange": buildExchange},
		"reflector":              map[string]any{"interval": reflectorInterval},
		"finished_grace_seconds": finishedGrace,
		"temporal":               map[string]any{"address": c.temporalAddr, "namespace": c.namespace, "task_queue": "buildbot-bridge"},
		"worker":                 map[string]any{"listen": c.workerListen},
		"starter":                map[string]any{"listen": c.starterListen},
	}
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// It holds the bridge's access token.
	return os.WriteFile(path, data, 0o600)
}
