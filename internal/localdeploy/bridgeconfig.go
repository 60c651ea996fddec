package localdeploy

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// BridgeConfig is the bridge's config.json in a deployment: the keys every
// deployment writes the same way from its parts, and those a deployment
// chooses (a zero value leaves the key out, so the bridge's default
// applies).
type BridgeConfig struct {
	Identity Identity
	// RootURL is the queue the bridge calls (the stand-in, or a proxy in
	// front of it); AccessToken is the bridge's there.
	RootURL     string
	AccessToken string
	AMQPURL     string
	// Backend holds the Buildbot keys: Backend08 or BackendREST.
	Backend map[string]any

	TemporalAddress string
	Namespace       string
	TaskQueue       string

	WorkerListen  string
	StarterListen string

	ReflectorInterval  time.Duration
	FinishedGrace      time.Duration
	ReclaimLead        time.Duration
	RestrictedBuilders []string
	IgnoredBuilders    []string
}

// Raw is the config as the JSON object the processes read, for a caller
// that edits keys this type does not know before writing or parsing it.
func (c BridgeConfig) Raw() map[string]any {
	id := c.Identity
	raw := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     c.RootURL,
			"credentials": map[string]any{"clientId": id.BridgeClientID, "accessToken": c.AccessToken},
		},
		"pulse_url":            c.AMQPURL,
		"pulse_queue_basename": id.QueueBasename,
		"tc_worker_group":      id.WorkerGroup,
		"tc_worker_id":         id.WorkerID,
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             id.WorkerType,
			"provisioner_id":          id.ProvisionerID,
		},
		"temporal": map[string]any{"address": c.TemporalAddress, "namespace": c.Namespace, "task_queue": c.TaskQueue},
	}
	if c.WorkerListen != "" {
		raw["worker"] = map[string]any{"listen": c.WorkerListen}
	}
	if c.StarterListen != "" {
		raw["starter"] = map[string]any{"listen": c.StarterListen}
	}
	if c.ReflectorInterval > 0 {
		raw["reflector"] = map[string]any{"interval": int(c.ReflectorInterval / time.Second)}
	}
	if c.FinishedGrace > 0 {
		raw["finished_grace_seconds"] = int(c.FinishedGrace / time.Second)
	}
	if c.ReclaimLead > 0 {
		raw["reclaim"] = map[string]any{"lead_seconds": int(c.ReclaimLead / time.Second)}
	}
	if c.RestrictedBuilders != nil {
		raw["restricted_builders"] = c.RestrictedBuilders
	}
	if c.IgnoredBuilders != nil {
		raw["ignored_builders"] = c.IgnoredBuilders
	}
	for k, v := range c.Backend {
		raw[k] = v
	}
	return raw
}

// Write saves the config as path, for a child process's -config.
func (c BridgeConfig) Write(path string) error {
	data, err := json.MarshalIndent(c.Raw(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// It holds the bridge's access token.
	return os.WriteFile(path, data, 0o600)
}

// ParseConfig parses raw as the processes parse their file, for a worker
// or starter run in this process. The environment is not consulted: a
// TASKCLUSTER_ROOT_URL left in the shell must not point a deployment at a
// real Taskcluster.
func ParseConfig(raw map[string]any, log *slog.Logger) (*config.Config, error) {
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, func(string) string { return "" }, log)
}

// Backend08 are the original bridge's keys for Buildbot 0.8: the scheduler
// DB, self-serve and the build events on Pulse.
func Backend08(schedulerDB, selfServeURL string) map[string]any {
	return map[string]any{
		"buildbot_scheduler_db": schedulerDB,
		"selfserve_url":         selfServeURL,
		"bblistener":            map[string]any{"pulse_exchange": config.DefaultBuildbotExchange},
	}
}

// BackendREST is the buildbot section for a modern master: its REST API,
// the bridge's force scheduler, and where the master pushes its events.
func BackendREST(apiURL, forceScheduler, eventsListen, eventsPassword string) map[string]any {
	return map[string]any{"buildbot": map[string]any{
		"api_url":         apiURL,
		"force_scheduler": forceScheduler,
		"events_listen":   eventsListen,
		"events_password": eventsPassword,
	}}
}
