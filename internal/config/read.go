package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

type reader struct {
	env func(string) string
	log *slog.Logger
}

const logfileNotice = "logs go to stderr"

// topKeys are the keys known at the top level: the original's and the new.
var topKeys = []string{
	"taskcluster_queue_config", "buildbot_scheduler_db", "bbb_db", "selfserve_url",
	"pulse_user", "pulse_password", "pulse_queue_basename", "pulse_url",
	"restricted_builders", "ignored_builders", "tc_worker_group", "tc_worker_id",
	"tclistener", "bblistener", "reflector",
	"temporal", "pulse_tls", "allowed_builders_url", "allowed_builders_refresh", "reclaim",
	"finished_grace_seconds", "worker", "starter", "buildbot",
}

// read fills a Config from the top-level object. Every section is opened
// (and its unknown keys warned about) before any value is checked.
func (r reader) read(top *object) (*Config, error) {
	log := r.log
	sections := map[string]*object{}
	open := func(parent *object, name string, known ...string) error {
		o, err := parent.child(log, name, known...)
		if err != nil {
			return err
		}
		sections[o.path] = o
		return nil
	}
	steps := []struct {
		parent string
		name   string
		known  []string
	}{
		{"", "taskcluster_queue_config", []string{"rootUrl", "credentials"}},
		{"taskcluster_queue_config", "credentials", []string{"clientId", "accessToken"}},
		{"", "tclistener", []string{"pulse_exchange_basename", "worker_type", "provisioner_id", "logfile"}},
		{"", "bblistener", []string{"pulse_exchange", "tc_worker_group", "tc_worker_id", "logfile"}},
		{"", "reflector", []string{"interval", "logfile"}},
		{"", "temporal", []string{"address", "namespace", "task_queue", "tls", "grpc_compression", "versioning", "deployment_name", "build_id"}},
		{"temporal", "tls", []string{"ca_file", "cert_file", "key_file", "server_name"}},
		{"", "pulse_tls", []string{"ca_file", "cert_file", "key_file"}},
		{"", "reclaim", []string{"lead_seconds"}},
		{"", "worker", []string{"listen", "workflow_task_pollers", "max_concurrent_workflow_tasks", "max_concurrent_local_activities", "sticky_cache_size"}},
		{"", "starter", []string{"listen", "prefetch"}},
		{"", "buildbot", []string{"api_url", "user", "password", "force_scheduler", "events_listen", "events_password"}},
	}
	sections[""] = top
	for _, s := range steps {
		if err := open(sections[s.parent], s.name, s.known...); err != nil {
			return nil, err
		}
	}
	tcq := sections["taskcluster_queue_config"]
	creds := sections["taskcluster_queue_config.credentials"]
	tcl := sections["tclistener"]
	bbl := sections["bblistener"]
	refl := sections["reflector"]
	temporal := sections["temporal"]
	reclaim := sections["reclaim"]
	worker := sections["worker"]
	starter := sections["starter"]

	top.ignore(log, "bbb_db", "the task workflows replace the original's own database")
	for _, o := range []*object{tcl, bbl, refl} {
		o.ignore(log, "logfile", logfileNotice)
	}

	c := &Config{}
	var err error

	// Taskcluster: the environment wins over the file.
	if c.Taskcluster.RootURL, err = r.stringOrEnv(tcq, "rootUrl", EnvRootURL); err != nil {
		return nil, err
	}
	if c.Taskcluster.RootURL == "" {
		return nil, fmt.Errorf("config: %s: missing (or set %s)", tcq.key("rootUrl"), EnvRootURL)
	}
	if err := checkHTTPURL(r.source(tcq, "rootUrl", EnvRootURL), c.Taskcluster.RootURL); err != nil {
		return nil, err
	}
	c.Taskcluster.RootURL = strings.TrimRight(c.Taskcluster.RootURL, "/")
	if c.Taskcluster.ClientID, err = r.stringOrEnv(creds, "clientId", EnvClientID); err != nil {
		return nil, err
	}
	if c.Taskcluster.ClientID == "" {
		return nil, fmt.Errorf("config: %s: missing (or set %s)", creds.key("clientId"), EnvClientID)
	}
	token, err := r.stringOrEnv(creds, "accessToken", EnvAccessToken)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("config: %s: missing (or set %s)", creds.key("accessToken"), EnvAccessToken)
	}
	c.Taskcluster.AccessToken = Secret(token)

	// Buildbot: 0.8 (scheduler DB and self-serve) or modern (REST API).
	if err := r.readBackend(top, sections["buildbot"], bbl, c); err != nil {
		return nil, err
	}

	// Pulse.
	if err := r.readPulse(top, c); err != nil {
		return nil, err
	}
	if c.PulseTLS, err = readTLS(sections["pulse_tls"], false); err != nil {
		return nil, err
	}
	if c.PulseTLS.Enabled() && !strings.HasPrefix(string(c.PulseURL), "amqps://") {
		// Silently connecting in clear text would defeat the section.
		return nil, fmt.Errorf("config: pulse_tls: set, but pulse_url is not an amqps:// URL")
	}

	// Builder patterns.
	if c.RestrictedBuilders, err = patterns(top, "restricted_builders"); err != nil {
		return nil, err
	}
	if c.IgnoredBuilders, err = patterns(top, "ignored_builders"); err != nil {
		return nil, err
	}

	// Worker identity: top-level, or bblistener's (which wins for claims).
	if c.TCWorkerGroup, _, err = top.str("tc_worker_group"); err != nil {
		return nil, err
	}
	if c.TCWorkerID, _, err = top.str("tc_worker_id"); err != nil {
		return nil, err
	}
	if c.BBListener.TCWorkerGroup, _, err = bbl.str("tc_worker_group"); err != nil {
		return nil, err
	}
	if c.BBListener.TCWorkerID, _, err = bbl.str("tc_worker_id"); err != nil {
		return nil, err
	}
	for _, id := range []struct{ key, value string }{
		{"tc_worker_group", c.TCWorkerGroup}, {"tc_worker_id", c.TCWorkerID},
		{"bblistener.tc_worker_group", c.BBListener.TCWorkerGroup}, {"bblistener.tc_worker_id", c.BBListener.TCWorkerID},
	} {
		if id.value != "" {
			if err := checkIdentifier(id.key, id.value); err != nil {
				return nil, err
			}
		}
	}
	if c.ClaimWorkerGroup() == "" {
		return nil, fmt.Errorf("config: tc_worker_group: missing (set tc_worker_group or bblistener.tc_worker_group)")
	}
	if c.ClaimWorkerID() == "" {
		return nil, fmt.Errorf("config: tc_worker_id: missing (set tc_worker_id or bblistener.tc_worker_id)")
	}

	// tclistener.
	if c.TCListener.PulseExchangeBasename, err = required(tcl, "pulse_exchange_basename"); err != nil {
		return nil, err
	}
	c.TCListener.PulseExchangeBasename = strings.TrimRight(c.TCListener.PulseExchangeBasename, "/")
	if c.TCListener.WorkerType, err = required(tcl, "worker_type"); err != nil {
		return nil, err
	}
	if !workerTypePattern.MatchString(c.TCListener.WorkerType) {
		return nil, fmt.Errorf("config: tclistener.worker_type: %q is not a Taskcluster worker type (%s)", c.TCListener.WorkerType, workerTypePattern)
	}
	if c.TCListener.ProvisionerID, err = required(tcl, "provisioner_id"); err != nil {
		return nil, err
	}
	if err := checkIdentifier("tclistener.provisioner_id", c.TCListener.ProvisionerID); err != nil {
		return nil, err
	}

	// bblistener.
	if c.Buildbot == nil {
		if c.BBListener.PulseExchange, err = withDefault(bbl, "pulse_exchange", DefaultBuildbotExchange); err != nil {
			return nil, err
		}
	}

	// Timing knobs.
	if c.Reflector.Interval, err = refl.seconds("interval", DefaultReflectorInterval); err != nil {
		return nil, err
	}
	if c.AllowedBuildersRefresh, err = top.seconds("allowed_builders_refresh", DefaultAllowedBuildersRefresh); err != nil {
		return nil, err
	}
	if c.Reclaim.Lead, err = reclaim.seconds("lead_seconds", DefaultReclaimLead); err != nil {
		return nil, err
	}
	if c.FinishedGrace, err = top.seconds("finished_grace_seconds", DefaultFinishedGrace); err != nil {
		return nil, err
	}

	// Allowed builders.
	if c.AllowedBuildersURL, _, err = top.str("allowed_builders_url"); err != nil {
		return nil, err
	}
	if c.AllowedBuildersURL != "" {
		if err := checkAllowedBuildersURL(c.AllowedBuildersURL); err != nil {
			return nil, err
		}
	}

	// Temporal.
	if c.Temporal.Address, err = withDefault(temporal, "address", DefaultTemporalAddress); err != nil {
		return nil, err
	}
	if err := checkHostPort("temporal.address", c.Temporal.Address, false); err != nil {
		return nil, err
	}
	if c.Temporal.Namespace, err = withDefault(temporal, "namespace", DefaultTemporalNamespace); err != nil {
		return nil, err
	}
	if c.Temporal.TaskQueue, err = withDefault(temporal, "task_queue", DefaultTemporalTaskQueue); err != nil {
		return nil, err
	}
	if c.Temporal.TLS, err = readTLS(sections["temporal.tls"], true); err != nil {
		return nil, err
	}
	if c.Temporal.GrpcCompression, err = withDefault(temporal, "grpc_compression", CompressionNone); err != nil {
		return nil, err
	}
	if c := c.Temporal.GrpcCompression; c != CompressionNone && c != CompressionGzip {
		return nil, fmt.Errorf("config: temporal.grpc_compression: %q is not %q or %q", c, CompressionNone, CompressionGzip)
	}
	if err := readVersioning(temporal, &c.Temporal); err != nil {
		return nil, err
	}

	// Listen addresses.
	if c.Worker.Listen, err = withDefault(worker, "listen", DefaultWorkerListen); err != nil {
		return nil, err
	}
	if err := checkHostPort("worker.listen", c.Worker.Listen, true); err != nil {
		return nil, err
	}
	if c.Starter.Listen, err = withDefault(starter, "listen", DefaultStarterListen); err != nil {
		return nil, err
	}
	if err := checkHostPort("starter.listen", c.Starter.Listen, true); err != nil {
		return nil, err
	}
	if err := readTuning(worker, starter, c); err != nil {
		return nil, err
	}
	if sameListenAddress(c.Worker.Listen, c.Starter.Listen) {
		return nil, fmt.Errorf("config: starter.listen: %s collides with worker.listen %s (both processes may run on one host)", c.Starter.Listen, c.Worker.Listen)
	}
	if c.Buildbot != nil {
		for _, other := range []struct{ key, addr string }{{"starter.listen", c.Starter.Listen}, {"worker.listen", c.Worker.Listen}} {
			if sameListenAddress(c.Buildbot.EventsListen, other.addr) {
				return nil, fmt.Errorf("config: buildbot.events_listen: %s collides with %s %s", c.Buildbot.EventsListen, other.key, other.addr)
			}
		}
	}
	return c, nil
}

// stringOrEnv reads key, then lets the environment variable override it.
func (r reader) stringOrEnv(o *object, key, envVar string) (string, error) {
	if v := strings.TrimSpace(r.env(envVar)); v != "" {
		return v, nil
	}
	v, _, err := o.str(key)
	return strings.TrimSpace(v), err
}

// source names where a value came from, for error messages.
func (r reader) source(o *object, key, envVar string) string {
	if strings.TrimSpace(r.env(envVar)) != "" {
		return envVar
	}
	return o.key(key)
}

// required reads a string key that must be present and non-empty.
func required(o *object, key string) (string, error) {
	v, ok, err := o.str(key)
	if err != nil {
		return "", err
	}
	v = strings.TrimSpace(v)
	if !ok {
		return "", fmt.Errorf("config: %s: missing", o.key(key))
	}
	if v == "" {
		return "", fmt.Errorf("config: %s: must not be empty", o.key(key))
	}
	return v, nil
}

// withDefault reads an optional string key that, when given, must not be
// empty.
func withDefault(o *object, key, def string) (string, error) {
	v, ok, err := o.str(key)
	if err != nil || !ok {
		return def, err
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("config: %s: must not be empty (leave it out for %q)", o.key(key), def)
	}
	return v, nil
}

func patterns(o *object, key string) (Patterns, error) {
	sources, _, err := o.strList(key)
	if err != nil {
		return nil, err
	}
	ps, err := CompilePatterns(sources)
	if err != nil {
		return nil, fmt.Errorf("config: %s%v", o.key(key), err)
	}
	return ps, nil
}

// readPulse reads the Pulse credentials and queue name. pulse_url, when
// given, wins over the fixed host the original used.
func (r reader) readPulse(top *object, c *Config) error {
	var err error
	if c.PulseUser, _, err = top.str("pulse_user"); err != nil {
		return err
	}
	password, _, err := top.str("pulse_password")
	if err != nil {
		return err
	}
	c.PulsePassword = Secret(password)
	if c.PulseQueueBasename, err = required(top, "pulse_queue_basename"); err != nil {
		return err
	}
	c.PulseQueueBasename = strings.TrimRight(c.PulseQueueBasename, "/")

	rawURL, hasURL, err := top.str("pulse_url")
	if err != nil {
		return err
	}
	if hasURL {
		rawURL = strings.TrimSpace(rawURL)
		if rawURL == "" {
			return fmt.Errorf("config: pulse_url: must not be empty (leave it out to use pulse_user and pulse_password on %s)", DefaultPulseHost)
		}
		u, err := parsePulseURL(rawURL, c.PulseUser, password)
		if err != nil {
			return err
		}
		c.PulseURL = Secret(u)
		return nil
	}
	if c.PulseUser == "" {
		return fmt.Errorf("config: pulse_user: missing (required unless pulse_url is given)")
	}
	if password == "" {
		return fmt.Errorf("config: pulse_password: missing (required unless pulse_url is given)")
	}
	u := url.URL{Scheme: "amqps", User: url.UserPassword(c.PulseUser, password), Host: DefaultPulseHost, Path: "/"}
	c.PulseURL = Secret(u.String())
	return nil
}

// readTuning reads the worker's and starter's performance knobs.
func readTuning(worker, starter *object, c *Config) error {
	knobs := []struct {
		o        *object
		key      string
		dst      *int
		def, min int
	}{
		{worker, "workflow_task_pollers", &c.Worker.WorkflowTaskPollers, DefaultWorkflowTaskPollers, 2},
		{worker, "max_concurrent_workflow_tasks", &c.Worker.MaxConcurrentWorkflowTasks, DefaultMaxConcurrentWorkflowTasks, 2},
		{worker, "max_concurrent_local_activities", &c.Worker.MaxConcurrentLocalActivities, DefaultMaxConcurrentLocalActivities, 1},
		{worker, "sticky_cache_size", &c.Worker.StickyCacheSize, DefaultStickyCacheSize, 1},
		{starter, "prefetch", &c.Starter.Prefetch, DefaultStarterPrefetch, 1},
	}
	for _, k := range knobs {
		n, err := k.o.count(k.key, k.def, k.min)
		if err != nil {
			return err
		}
		*k.dst = n
	}
	return nil
}
