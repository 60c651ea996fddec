// Package config reads the bridge's JSON configuration file, shared by the
// worker and the starter.
//
// The original bridge's config.json is accepted unchanged (DESIGN §5):
// keys it had that are no longer needed (bbb_db, every logfile) are
// ignored with a notice, unknown keys are warned about and ignored, and a
// bad value is refused with one error naming the key. Secrets are never
// logged: use String or LogValue to show a Config.
package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
)

// Defaults for keys the file may leave out.
const (
	DefaultBuildbotExchange       = "exchange/build"
	DefaultReflectorInterval      = 60 * time.Second
	DefaultTemporalAddress        = "127.0.0.1:7233"
	DefaultTemporalNamespace      = "default"
	DefaultTemporalTaskQueue      = "buildbot-bridge"
	DefaultDeploymentName         = "buildbot-bridge"
	DefaultAllowedBuildersRefresh = 300 * time.Second
	DefaultReclaimLead            = 300 * time.Second
	DefaultFinishedGrace          = 600 * time.Second
	DefaultWorkerListen           = "127.0.0.1:9464"
	DefaultStarterListen          = "127.0.0.1:9465"
	DefaultBuildbotEventsListen   = "127.0.0.1:9466"
	DefaultForceScheduler         = "taskcluster"
	// Worker and starter tuning; README "Performance" has the
	// measurements behind them.
	DefaultWorkflowTaskPollers          = 2
	DefaultMaxConcurrentWorkflowTasks   = 1000
	DefaultMaxConcurrentLocalActivities = 1000
	DefaultStickyCacheSize              = 10000
	DefaultStarterPrefetch              = 32
	// DefaultPulseHost is where the original always connected (amqps).
	DefaultPulseHost = "pulse.mozilla.org:5671"
)

// Environment variables that override taskcluster_queue_config.
const (
	EnvRootURL     = "TASKCLUSTER_ROOT_URL"
	EnvClientID    = "TASKCLUSTER_CLIENT_ID"
	EnvAccessToken = "TASKCLUSTER_ACCESS_TOKEN"
	// Secrets of the buildbot section.
	EnvBuildbotPassword       = "BUILDBOT_PASSWORD"
	EnvBuildbotEventsPassword = "BUILDBOT_EVENTS_PASSWORD"
)

// Secret is a string that prints, logs and JSON-encodes as "xxxxx" (or ""
// when empty). Convert it with string() where the value is really needed.
type Secret string

const redacted = "xxxxx"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps the secret out of anything JSON-encoded, Temporal
// payloads included.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Config is the whole configuration, with defaults filled in and every value
// checked.
type Config struct {
	// Taskcluster is taskcluster_queue_config, with the environment applied.
	Taskcluster Taskcluster
	// Buildbot is the buildbot section: set when the bridge talks to a
	// modern Buildbot through its REST API, nil for Buildbot 0.8 (then
	// SchedulerDB and SelfServeURL are set).
	Buildbot *Buildbot
	// SchedulerDB is buildbot_scheduler_db (Buildbot 0.8).
	SchedulerDB dburl.URL
	// SelfServeURL is selfserve_url without a trailing slash (Buildbot 0.8).
	SelfServeURL string
	// PulseUser and PulsePassword are pulse_user and pulse_password as
	// written (empty when pulse_url carries the credentials).
	PulseUser     string
	PulsePassword Secret
	// PulseURL is pulse_url, or the URL the original connected to
	// (amqps://<pulse_user>:<pulse_password>@pulse.mozilla.org:5671/).
	PulseURL Secret
	// PulseTLS is pulse_tls: the CA and client certificate for amqps://.
	PulseTLS TLSFiles
	// PulseQueueBasename is pulse_queue_basename.
	PulseQueueBasename string
	// RestrictedBuilders and IgnoredBuilders are the compiled
	// restricted_builders and ignored_builders.
	RestrictedBuilders Patterns
	IgnoredBuilders    Patterns
	// TCWorkerGroup and TCWorkerID are the top-level tc_worker_group and
	// tc_worker_id; use ClaimWorkerGroup/ClaimWorkerID for claims.
	TCWorkerGroup string
	TCWorkerID    string
	TCListener    TCListener
	BBListener    BBListener
	Reflector     Reflector
	Temporal      Temporal
	// AllowedBuildersURL is allowed_builders_url ("" when not configured).
	AllowedBuildersURL string
	// AllowedBuildersRefresh is allowed_builders_refresh.
	AllowedBuildersRefresh time.Duration
	Reclaim                Reclaim
	// FinishedGrace is finished_grace_seconds: how long a BuildRequest may
	// sit complete with no finished event before the task is resolved from
	// the row.
	FinishedGrace time.Duration
	Worker        Worker
	Starter       Starter
}

// Taskcluster is taskcluster_queue_config.
type Taskcluster struct {
	// RootURL has no trailing slash.
	RootURL     string
	ClientID    string
	AccessToken Secret
}

// Buildbot is the buildbot section: a modern Buildbot master (3.x, 4.x).
type Buildbot struct {
	// APIURL is api_url: the master's web root, ending in "/" (the REST
	// API is under api/v2/).
	APIURL string
	// User and Password log the bridge in (both empty: a master without
	// auth). Password may come from BUILDBOT_PASSWORD.
	User     string
	Password Secret
	// ForceScheduler is force_scheduler: the scheduler that creates the
	// bridge's requests (contrib/buildbot's bridge_scheduler).
	ForceScheduler string
	// EventsListen is events_listen: where the starter takes the master's
	// pushes (POST /buildbot/events).
	EventsListen string
	// EventsPassword is events_password: the HTTP Basic password the
	// master's reporter sends. May come from BUILDBOT_EVENTS_PASSWORD.
	EventsPassword Secret
}

// Backend names which kind of Buildbot the config talks to.
func (c Config) Backend() string {
	if c.Buildbot != nil {
		return BackendREST
	}
	return Backend08
}

// Backend values.
const (
	Backend08   = "buildbot-0.8"
	BackendREST = "buildbot-rest"
)

// TCListener is the tclistener section.
type TCListener struct {
	PulseExchangeBasename string
	WorkerType            string
	ProvisionerID         string
}

// BBListener is the bblistener section.
type BBListener struct {
	PulseExchange string
	// TCWorkerGroup and TCWorkerID are optional; when set they win over the
	// top-level keys for claims, as in the deployments that had them.
	TCWorkerGroup string
	TCWorkerID    string
}

// Reflector is the reflector section.
type Reflector struct {
	// Interval is the sweep period.
	Interval time.Duration
}

// Temporal is the temporal section.
type Temporal struct {
	Address   string
	Namespace string
	TaskQueue string
	// TLS is temporal.tls: the CA, client certificate (mTLS) and server
	// name for the frontend connection.
	TLS TLSFiles
	// GrpcCompression is temporal.grpc_compression: CompressionNone or
	// CompressionGzip.
	GrpcCompression string
	// Versioning is temporal.versioning: VersioningAutoUpgrade (the worker
	// is a version of DeploymentName) or VersioningOff (unversioned).
	Versioning string
	// DeploymentName is temporal.deployment_name: the Worker Deployment
	// the worker is a version of.
	DeploymentName string
	// BuildID is temporal.build_id: this worker's version within the
	// deployment. Empty: the worker derives it from its binary.
	BuildID string
}

// temporal.versioning values.
const (
	VersioningAutoUpgrade = "auto-upgrade"
	VersioningOff         = "off"
)

// temporal.grpc_compression values.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// Reclaim is the reclaim section.
type Reclaim struct {
	// Lead is reclaim.lead_seconds: the most a reclaim happens ahead of
	// takenUntil.
	Lead time.Duration
}

// Worker is the worker section.
type Worker struct {
	// Listen is the host:port of the metrics and health endpoint.
	Listen string
	// WorkflowTaskPollers is workflow_task_pollers: the goroutines
	// long-polling Temporal for workflow tasks (at least 2: the SDK
	// alternates them between the sticky and the shared queue).
	WorkflowTaskPollers int
	// MaxConcurrentWorkflowTasks is max_concurrent_workflow_tasks.
	MaxConcurrentWorkflowTasks int
	// MaxConcurrentLocalActivities is max_concurrent_local_activities: every
	// TC, DB and self-serve call runs as a local activity, so this bounds
	// the process's outgoing calls.
	MaxConcurrentLocalActivities int
	// StickyCacheSize is sticky_cache_size: task workflows kept in memory
	// between their workflow tasks. One evicted is replayed from its
	// history at its next event, which costs CPU, not correctness.
	StickyCacheSize int
}

// Starter is the starter section.
type Starter struct {
	// Listen is the host:port of the metrics and health endpoint.
	Listen string
	// Prefetch is prefetch: unacknowledged Pulse messages per queue, and so
	// the messages the starter handles at once.
	Prefetch int
}

// ClaimWorkerGroup is the workerGroup to claim runs with:
// bblistener.tc_worker_group when set, else tc_worker_group.
func (c Config) ClaimWorkerGroup() string {
	if c.BBListener.TCWorkerGroup != "" {
		return c.BBListener.TCWorkerGroup
	}
	return c.TCWorkerGroup
}

// ClaimWorkerID is the workerId to claim runs with: bblistener.tc_worker_id
// when set, else tc_worker_id.
func (c Config) ClaimWorkerID() string {
	if c.BBListener.TCWorkerID != "" {
		return c.BBListener.TCWorkerID
	}
	return c.TCWorkerID
}

// Load reads and checks the config file at path. env looks up environment
// variables (os.Getenv in production); log receives notices and warnings
// (nil discards them).
func Load(path string, env func(string) string, log *slog.Logger) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, env, log)
}

// Parse checks a config file's contents; see Load.
func Parse(data []byte, env func(string) string, log *slog.Logger) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var probe json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, syntaxError(data, err)
	}
	top, err := newObject(log, "", probe, topKeys...)
	if err != nil {
		return nil, err
	}
	r := reader{env: env, log: log}
	c, err := r.read(top)
	if err != nil {
		return nil, err
	}
	return c, nil
}
