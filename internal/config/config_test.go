package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// The original bridge's config.json.sample loads unchanged; only the
// rootUrl, which predates it, comes from the environment.
func TestOriginalSampleLoads(t *testing.T) {
	logs := &logCapture{}
	c, err := config.Load("testdata/config.json.sample",
		envMap(map[string]string{"TASKCLUSTER_ROOT_URL": "https://tc.example.com/"}), logs.logger())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	if c.Taskcluster.RootURL != "https://tc.example.com" || c.Taskcluster.ClientID != "foo" || string(c.Taskcluster.AccessToken) != "foo" {
		t.Errorf("taskcluster = %q %q %q", c.Taskcluster.RootURL, c.Taskcluster.ClientID, string(c.Taskcluster.AccessToken))
	}
	if c.SchedulerDB.Driver != "mysql" || c.SchedulerDB.Host != "blah" || c.SchedulerDB.Database != "crap" || c.SchedulerDB.User != "foo" {
		t.Errorf("scheduler DB = %+v", c.SchedulerDB)
	}
	if c.SelfServeURL != "http://buildapi.pvt.build.mozilla.org/buildapi/self-serve" {
		t.Errorf("selfserve_url = %q", c.SelfServeURL)
	}
	if got := string(c.PulseURL); got != "amqps://foo:foo@pulse.mozilla.org:5671/" {
		t.Errorf("pulse URL = %q, want the original's fixed host", got)
	}
	if c.PulseQueueBasename != "queue/foo" {
		t.Errorf("pulse_queue_basename = %q", c.PulseQueueBasename)
	}
	if c.ClaimWorkerGroup() != "buildbot-bridge" || c.ClaimWorkerID() != "buildbot-bridge" {
		t.Errorf("claim worker = %q/%q", c.ClaimWorkerGroup(), c.ClaimWorkerID())
	}
	if c.TCListener != (config.TCListener{PulseExchangeBasename: "exchange/taskcluster-queue/v1", WorkerType: "buildbot-bridge", ProvisionerID: "buildbot-bridge"}) {
		t.Errorf("tclistener = %+v", c.TCListener)
	}
	if c.BBListener.PulseExchange != "exchange/build" || c.Reflector.Interval != 60*time.Second {
		t.Errorf("bblistener.pulse_exchange = %q, reflector.interval = %v", c.BBListener.PulseExchange, c.Reflector.Interval)
	}
	// New keys take their defaults.
	if c.Temporal != (config.Temporal{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "buildbot-bridge", GrpcCompression: "none",
		Versioning: "auto-upgrade", DeploymentName: "buildbot-bridge"}) {
		t.Errorf("temporal = %+v", c.Temporal)
	}
	if c.Reclaim.Lead != 300*time.Second || c.FinishedGrace != 600*time.Second || c.AllowedBuildersRefresh != 300*time.Second {
		t.Errorf("timing = lead %v grace %v refresh %v", c.Reclaim.Lead, c.FinishedGrace, c.AllowedBuildersRefresh)
	}
	if c.AllowedBuildersURL != "" {
		t.Errorf("allowed_builders_url = %q, want none", c.AllowedBuildersURL)
	}
	if want := (config.Worker{Listen: "127.0.0.1:9464", WorkflowTaskPollers: config.DefaultWorkflowTaskPollers,
		MaxConcurrentWorkflowTasks: config.DefaultMaxConcurrentWorkflowTasks, MaxConcurrentLocalActivities: config.DefaultMaxConcurrentLocalActivities,
		StickyCacheSize: config.DefaultStickyCacheSize}); c.Worker != want {
		t.Errorf("worker = %+v, want %+v", c.Worker, want)
	}
	if c.Starter.Prefetch != config.DefaultStarterPrefetch {
		t.Errorf("starter.prefetch = %d", c.Starter.Prefetch)
	}
	if c.Worker.Listen != "127.0.0.1:9464" || c.Starter.Listen != "127.0.0.1:9465" {
		t.Errorf("listen = %q, %q", c.Worker.Listen, c.Starter.Listen)
	}

	// The builder lists behave as the original's re.match did.
	for name, want := range map[string]bool{
		"mozilla-central linux": true, "alder-foo": false, "linux alder build": false,
	} {
		if got, err := c.IgnoredBuilders.Match(name); err != nil || got != want {
			t.Errorf("ignored_builders.Match(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for name, want := range map[string]bool{
		"release-firefox": true, "pre-release-firefox": false, "mozilla-release linux": false,
	} {
		if got, err := c.RestrictedBuilders.Match(name); err != nil || got != want {
			t.Errorf("restricted_builders.Match(%q) = %v, %v; want %v", name, got, err, want)
		}
	}

	// Notices for the keys that are no longer used, and no warning.
	notices := map[string]bool{}
	for _, r := range logs.records(t) {
		switch r.Level {
		case "INFO":
			notices[r.Key] = true
		case "WARN", "ERROR":
			t.Errorf("unexpected %s: %s", r.Level, r.Msg)
		}
	}
	for _, key := range []string{"bbb_db", "tclistener.logfile", "bblistener.logfile", "reflector.logfile"} {
		if !notices[key] {
			t.Errorf("no notice that %s is ignored; log:\n%s", key, logs)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.json"), noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("error %v should name the missing file", err)
	}
}

func TestLoadSyntaxErrorGivesLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("{\n  \"pulse_user\": \"a\",\n  \"pulse_password\": \"b\"\n  \"x\": 1\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("error %v should point at line 4", err)
	}
}

func TestTopLevelMustBeObject(t *testing.T) {
	for _, data := range []string{`[]`, `"x"`, `null`, `3`} {
		_, err := config.Parse([]byte(data), noEnv, nil)
		if err == nil || !strings.Contains(err.Error(), "expected a JSON object at the top level") {
			t.Errorf("Parse(%s) error %v", data, err)
		}
	}
}

func TestUnknownKeysAreWarnedAndIgnored(t *testing.T) {
	c, logs, err := parse(t, baseConfig(), noEnv, map[string]any{
		"foo":            1,
		"tclistener.foo": "x",
		"taskcluster_queue_config.credentials.certificate": "{}",
		"temporal.adress": "typo:7233",
		"reclaim.lead":    5,
	})
	if err != nil {
		t.Fatalf("unknown keys must not be fatal: %v", err)
	}
	if c.Temporal.Address != "127.0.0.1:7233" {
		t.Errorf("a misspelt key changed temporal.address to %q", c.Temporal.Address)
	}
	warned := map[string]int{}
	for _, r := range logs.records(t) {
		if r.Level == "WARN" {
			warned[r.Key]++
			if !strings.Contains(r.Msg, r.Key) {
				t.Errorf("warning %q does not name the key %s", r.Msg, r.Key)
			}
		}
	}
	for _, key := range []string{"foo", "tclistener.foo", "taskcluster_queue_config.credentials.certificate", "temporal.adress", "reclaim.lead"} {
		if warned[key] != 1 {
			t.Errorf("%s warned %d times, want once; log:\n%s", key, warned[key], logs)
		}
	}
	if len(warned) != 5 {
		t.Errorf("warned about %v, want exactly the five unknown keys", warned)
	}
}

// A misspelt key is warned about even when another value stops the load,
// since it is often the cause.
func TestUnknownKeyWarnedBeforeError(t *testing.T) {
	_, logs, err := parse(t, baseConfig(), noEnv, map[string]any{"selfserve_url": del, "selfserve_ur": "https://x"})
	if err == nil || !strings.Contains(err.Error(), "selfserve_url: missing") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(logs.String(), "unknown key selfserve_ur ignored") {
		t.Errorf("no warning about selfserve_ur; log:\n%s", logs)
	}
}

func TestWrongTypeNamesKey(t *testing.T) {
	tests := []struct {
		path  string
		value any
		want  string
	}{
		{"tclistener.provisioner_id", 5, "config: tclistener.provisioner_id: expected a string, got number"},
		{"tclistener", "x", "config: tclistener: expected an object, got string"},
		{"selfserve_url", true, "config: selfserve_url: expected a string, got boolean"},
		{"taskcluster_queue_config.credentials.accessToken", []any{"x"}, "config: taskcluster_queue_config.credentials.accessToken: expected a string, got array"},
		{"restricted_builders", "^release-", "config: restricted_builders: expected a list of strings, got string"},
		{"ignored_builders", []any{"ok", 3}, "config: ignored_builders[1]: expected a string, got number"},
		{"reflector.interval", "60", "config: reflector.interval: expected a number of seconds, got string"},
		{"reclaim", 300, "config: reclaim: expected an object, got number"},
		{"finished_grace_seconds", map[string]any{}, "config: finished_grace_seconds: expected a number of seconds, got object"},
		{"worker.listen", 9464, "config: worker.listen: expected a string, got number"},
		{"bblistener.tc_worker_id", false, "config: bblistener.tc_worker_id: expected a string, got boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, _, err := parse(t, baseConfig(), noEnv, map[string]any{tt.path: tt.value})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEnvironmentWinsOverFile(t *testing.T) {
	env := envMap(map[string]string{
		"TASKCLUSTER_ROOT_URL":     "https://env.example.com",
		"TASKCLUSTER_CLIENT_ID":    "env-client",
		"TASKCLUSTER_ACCESS_TOKEN": "env-token",
	})
	c, _, err := parse(t, baseConfig(), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Taskcluster.RootURL != "https://env.example.com" || c.Taskcluster.ClientID != "env-client" || string(c.Taskcluster.AccessToken) != "env-token" {
		t.Errorf("taskcluster = %q %q %q, want the environment's", c.Taskcluster.RootURL, c.Taskcluster.ClientID, string(c.Taskcluster.AccessToken))
	}

	// The environment alone is enough.
	c, _, err = parse(t, baseConfig(), env, map[string]any{"taskcluster_queue_config": del})
	if err != nil {
		t.Fatalf("credentials from the environment only: %v", err)
	}
	if c.Taskcluster.ClientID != "env-client" {
		t.Errorf("clientId = %q", c.Taskcluster.ClientID)
	}

	// A bad value from the environment is named by its variable.
	_, _, err = parse(t, baseConfig(), envMap(map[string]string{"TASKCLUSTER_ROOT_URL": "tc.example.com"}), nil)
	if err == nil || !strings.Contains(err.Error(), "TASKCLUSTER_ROOT_URL") {
		t.Errorf("error %v should name TASKCLUSTER_ROOT_URL", err)
	}
}

func TestClaimWorkerPrecedence(t *testing.T) {
	c, _, err := parse(t, baseConfig(), noEnv, map[string]any{
		"bblistener.tc_worker_group": "bbb-group",
		"bblistener.tc_worker_id":    "bbb-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClaimWorkerGroup() != "bbb-group" || c.ClaimWorkerID() != "bbb-1" {
		t.Errorf("claims as %s/%s, want the bblistener keys", c.ClaimWorkerGroup(), c.ClaimWorkerID())
	}
	// Only the nested keys: still complete.
	c, _, err = parse(t, baseConfig(), noEnv, map[string]any{
		"tc_worker_group": del, "tc_worker_id": del,
		"bblistener.tc_worker_group": "g", "bblistener.tc_worker_id": "w",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClaimWorkerGroup() != "g" || c.ClaimWorkerID() != "w" {
		t.Errorf("claims as %s/%s", c.ClaimWorkerGroup(), c.ClaimWorkerID())
	}
}

func TestPulseURL(t *testing.T) {
	t.Run("derived, credentials escaped", func(t *testing.T) {
		c, _, err := parse(t, baseConfig(), noEnv, map[string]any{"pulse_user": "bbb user", "pulse_password": "p@ss/w:rd%?#"})
		if err != nil {
			t.Fatal(err)
		}
		uri, err := amqp.ParseURI(string(c.PulseURL))
		if err != nil {
			t.Fatalf("amqp091 cannot parse %s: %v", c.PulseURLRedacted(), err)
		}
		if uri.Scheme != "amqps" || uri.Host != "pulse.mozilla.org" || uri.Port != 5671 || uri.Vhost != "/" ||
			uri.Username != "bbb user" || uri.Password != "p@ss/w:rd%?#" {
			t.Errorf("amqp091 reads %+v", uri)
		}
		if got := c.PulseURLRedacted(); got != "amqps://bbb%20user:xxxxx@pulse.mozilla.org:5671/" {
			t.Errorf("PulseURLRedacted = %q", got)
		}
	})
	t.Run("given, with credentials", func(t *testing.T) {
		c, _, err := parse(t, baseConfig(), noEnv, map[string]any{
			"pulse_url": "amqp://u:pw@rabbit.example.com:5672/bbb", "pulse_user": del, "pulse_password": del,
		})
		if err != nil {
			t.Fatal(err)
		}
		if string(c.PulseURL) != "amqp://u:pw@rabbit.example.com:5672/bbb" {
			t.Errorf("PulseURL = %q", string(c.PulseURL))
		}
	})
	t.Run("given without credentials takes pulse_user and pulse_password", func(t *testing.T) {
		c, _, err := parse(t, baseConfig(), noEnv, map[string]any{"pulse_url": "amqps://pulse.example.com/"})
		if err != nil {
			t.Fatal(err)
		}
		uri, err := amqp.ParseURI(string(c.PulseURL))
		if err != nil {
			t.Fatal(err)
		}
		if uri.Username != "bbb" || uri.Password != "pulsepass" || uri.Host != "pulse.example.com" || uri.Port != 5671 {
			t.Errorf("amqp091 reads %+v", uri)
		}
	})
}

func TestCustomValues(t *testing.T) {
	c, _, err := parse(t, baseConfig(), noEnv, map[string]any{
		"reflector.interval":                     2,
		"reclaim.lead_seconds":                   1.5,
		"finished_grace_seconds":                 10,
		"allowed_builders_refresh":               30,
		"allowed_builders_url":                   "https://example.com/allowed.json",
		"temporal.address":                       "temporal.example.com:7233",
		"temporal.namespace":                     "releng",
		"temporal.task_queue":                    "bbb-staging",
		"temporal.grpc_compression":              "gzip",
		"temporal.deployment_name":               "bbb-staging",
		"temporal.build_id":                      "2026.12.02-1",
		"worker.listen":                          ":9500",
		"worker.workflow_task_pollers":           8,
		"worker.max_concurrent_workflow_tasks":   50,
		"worker.max_concurrent_local_activities": 20,
		"worker.sticky_cache_size":               6000,
		"starter.listen":                         "127.0.0.1:9501",
		"starter.prefetch":                       64,
		"bblistener.pulse_exchange":              "exchange/build-staging",
		"buildbot_scheduler_db":                  "sqlite:////var/lib/buildbot/state.sqlite",
		"selfserve_url":                          "https://buildapi.example.com/buildapi/self-serve/",
		"tclistener.pulse_exchange_basename":     "exchange/taskcluster-queue/v1/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reflector.Interval != 2*time.Second || c.Reclaim.Lead != 1500*time.Millisecond ||
		c.FinishedGrace != 10*time.Second || c.AllowedBuildersRefresh != 30*time.Second {
		t.Errorf("timing = %v %v %v %v", c.Reflector.Interval, c.Reclaim.Lead, c.FinishedGrace, c.AllowedBuildersRefresh)
	}
	if c.Temporal != (config.Temporal{Address: "temporal.example.com:7233", Namespace: "releng", TaskQueue: "bbb-staging", GrpcCompression: "gzip",
		Versioning: "auto-upgrade", DeploymentName: "bbb-staging", BuildID: "2026.12.02-1"}) {
		t.Errorf("temporal = %+v", c.Temporal)
	}
	if c.Worker.Listen != ":9500" || c.Starter.Listen != "127.0.0.1:9501" || c.BBListener.PulseExchange != "exchange/build-staging" {
		t.Errorf("listen %q %q exchange %q", c.Worker.Listen, c.Starter.Listen, c.BBListener.PulseExchange)
	}
	if want := (config.Worker{Listen: ":9500", WorkflowTaskPollers: 8, MaxConcurrentWorkflowTasks: 50, MaxConcurrentLocalActivities: 20, StickyCacheSize: 6000}); c.Worker != want {
		t.Errorf("worker = %+v, want %+v", c.Worker, want)
	}
	if c.Starter.Prefetch != 64 {
		t.Errorf("starter.prefetch = %d, want 64", c.Starter.Prefetch)
	}
	if c.SchedulerDB.Driver != "sqlite" || c.SchedulerDB.DSN != "/var/lib/buildbot/state.sqlite" {
		t.Errorf("scheduler DB = %+v", c.SchedulerDB)
	}
	// Trailing slashes would double up in self-serve paths and exchange names.
	if c.SelfServeURL != "https://buildapi.example.com/buildapi/self-serve" || c.TCListener.PulseExchangeBasename != "exchange/taskcluster-queue/v1" {
		t.Errorf("selfserve_url %q, exchange basename %q", c.SelfServeURL, c.TCListener.PulseExchangeBasename)
	}
}

// Setting a value to null is the same as leaving it out.
func TestNullIsAbsent(t *testing.T) {
	m := baseConfig()
	m["temporal"] = map[string]any{"address": nil}
	m["allowed_builders_url"] = nil
	c, err := config.Parse(mustJSON(t, m), noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.Address != "127.0.0.1:7233" || c.AllowedBuildersURL != "" {
		t.Errorf("temporal.address %q allowed_builders_url %q", c.Temporal.Address, c.AllowedBuildersURL)
	}
}

func TestBuildbotDBIgnoredParamsWarned(t *testing.T) {
	_, logs, err := parse(t, baseConfig(), noEnv, map[string]any{"buildbot_scheduler_db": "mysql://u:p@h/db?charset=utf8&use_unicode=0"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "query parameter use_unicode has no effect") {
		t.Errorf("no warning about use_unicode; log:\n%s", logs)
	}
}

func TestVersioningOff(t *testing.T) {
	c, _, err := parse(t, baseConfig(), noEnv, map[string]any{"temporal.versioning": "off"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.Versioning != config.VersioningOff || c.Temporal.BuildID != "" {
		t.Errorf("temporal = %+v, want versioning off", c.Temporal)
	}
}
