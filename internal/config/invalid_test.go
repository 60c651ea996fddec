package config_test

import (
	"strings"
	"testing"
)

// Every invalid value is refused with one error that names the key and
// what is wrong.
func TestInvalidValuesNameTheKey(t *testing.T) {
	long := strings.Repeat("w", 39)
	tests := []struct {
		name    string
		changes map[string]any
		want    string
	}{
		{"rootUrl missing", map[string]any{"taskcluster_queue_config.rootUrl": del},
			"config: taskcluster_queue_config.rootUrl: missing (or set TASKCLUSTER_ROOT_URL)"},
		{"rootUrl not http", map[string]any{"taskcluster_queue_config.rootUrl": "ftp://tc.example.com"},
			"config: taskcluster_queue_config.rootUrl: must be an http:// or https:// URL"},
		{"rootUrl without host", map[string]any{"taskcluster_queue_config.rootUrl": "https://"},
			"config: taskcluster_queue_config.rootUrl: must be an http:// or https:// URL"},
		{"clientId missing", map[string]any{"taskcluster_queue_config.credentials.clientId": del},
			"config: taskcluster_queue_config.credentials.clientId: missing (or set TASKCLUSTER_CLIENT_ID)"},
		{"accessToken missing", map[string]any{"taskcluster_queue_config.credentials.accessToken": del},
			"config: taskcluster_queue_config.credentials.accessToken: missing (or set TASKCLUSTER_ACCESS_TOKEN)"},
		{"credentials missing", map[string]any{"taskcluster_queue_config.credentials": del},
			"config: taskcluster_queue_config.credentials.clientId: missing"},
		{"scheduler db missing", map[string]any{"buildbot_scheduler_db": del},
			"config: buildbot_scheduler_db: missing"},
		{"scheduler db empty", map[string]any{"buildbot_scheduler_db": ""},
			"config: buildbot_scheduler_db: must not be empty"},
		{"scheduler db postgres", map[string]any{"buildbot_scheduler_db": "postgresql://u:p@h/db"},
			`config: buildbot_scheduler_db: unsupported database "postgresql"`},
		{"scheduler db in memory", map[string]any{"buildbot_scheduler_db": "sqlite:///:memory:"},
			"config: buildbot_scheduler_db: in-memory SQLite is not supported"},
		{"scheduler db no name", map[string]any{"buildbot_scheduler_db": "mysql://u:p@h"},
			"config: buildbot_scheduler_db: missing database name"},
		{"selfserve missing", map[string]any{"selfserve_url": del},
			"config: selfserve_url: missing"},
		{"selfserve without scheme", map[string]any{"selfserve_url": "buildapi.example.com/self-serve"},
			"config: selfserve_url: must be an http:// or https:// URL"},
		{"selfserve ftp", map[string]any{"selfserve_url": "ftp://buildapi.example.com/"},
			"config: selfserve_url: must be an http:// or https:// URL"},
		{"pulse_user missing", map[string]any{"pulse_user": del},
			"config: pulse_user: missing (required unless pulse_url is given)"},
		{"pulse_password missing", map[string]any{"pulse_password": del},
			"config: pulse_password: missing (required unless pulse_url is given)"},
		{"pulse_queue_basename missing", map[string]any{"pulse_queue_basename": del},
			"config: pulse_queue_basename: missing"},
		{"pulse_queue_basename empty", map[string]any{"pulse_queue_basename": " "},
			"config: pulse_queue_basename: must not be empty"},
		{"pulse_url https", map[string]any{"pulse_url": "https://pulse.mozilla.org/"},
			"config: pulse_url: must be an amqp:// or amqps:// URL"},
		{"pulse_url no host", map[string]any{"pulse_url": "amqps://:5671/"},
			"config: pulse_url: missing host"},
		{"pulse_url bad port", map[string]any{"pulse_url": "amqp://rabbit:99999/"},
			"config: pulse_url: invalid port"},
		{"pulse_url unparsable", map[string]any{"pulse_url": "amqp://rabbit/%zz"},
			"config: pulse_url: not a valid URL"},
		{"pulse_url empty", map[string]any{"pulse_url": ""},
			"config: pulse_url: must not be empty"},
		{"restricted regex", map[string]any{"restricted_builders": []any{"^ok", "x", "(unclosed"}},
			"config: restricted_builders[2]: invalid regular expression"},
		{"ignored regex", map[string]any{"ignored_builders": []any{`^((?!alder).)*$`, "[a-"}},
			"config: ignored_builders[1]: invalid regular expression"},
		{"worker group missing", map[string]any{"tc_worker_group": del},
			"config: tc_worker_group: missing (set tc_worker_group or bblistener.tc_worker_group)"},
		{"worker id missing", map[string]any{"tc_worker_id": del},
			"config: tc_worker_id: missing (set tc_worker_id or bblistener.tc_worker_id)"},
		{"worker group invalid", map[string]any{"tc_worker_group": "bad group!"},
			`config: tc_worker_group: "bad group!" is not a Taskcluster identifier`},
		{"worker id too long", map[string]any{"tc_worker_id": long},
			`config: tc_worker_id: "` + long + `" is not a Taskcluster identifier`},
		{"nested worker id invalid", map[string]any{"bblistener.tc_worker_id": "a/b"},
			`config: bblistener.tc_worker_id: "a/b" is not a Taskcluster identifier`},
		{"nested worker group invalid", map[string]any{"bblistener.tc_worker_group": "a.b"},
			`config: bblistener.tc_worker_group: "a.b" is not a Taskcluster identifier`},
		{"tclistener missing", map[string]any{"tclistener": del},
			"config: tclistener.pulse_exchange_basename: missing"},
		{"exchange basename missing", map[string]any{"tclistener.pulse_exchange_basename": del},
			"config: tclistener.pulse_exchange_basename: missing"},
		{"worker_type missing", map[string]any{"tclistener.worker_type": del},
			"config: tclistener.worker_type: missing"},
		{"worker_type invalid", map[string]any{"tclistener.worker_type": "Buildbot_Bridge"},
			`config: tclistener.worker_type: "Buildbot_Bridge" is not a Taskcluster worker type`},
		{"provisioner_id missing", map[string]any{"tclistener.provisioner_id": del},
			"config: tclistener.provisioner_id: missing"},
		{"provisioner_id invalid", map[string]any{"tclistener.provisioner_id": "x y"},
			`config: tclistener.provisioner_id: "x y" is not a Taskcluster identifier`},
		{"bb exchange empty", map[string]any{"bblistener.pulse_exchange": ""},
			"config: bblistener.pulse_exchange: must not be empty"},
		{"interval zero", map[string]any{"reflector.interval": 0},
			"config: reflector.interval: must be a positive number of seconds, got 0"},
		{"interval negative", map[string]any{"reflector.interval": -60},
			"config: reflector.interval: must be a positive number of seconds, got -60"},
		{"lead negative", map[string]any{"reclaim.lead_seconds": -1},
			"config: reclaim.lead_seconds: must be a positive number of seconds"},
		{"grace zero", map[string]any{"finished_grace_seconds": 0},
			"config: finished_grace_seconds: must be a positive number of seconds"},
		{"grace huge", map[string]any{"finished_grace_seconds": 1e300},
			"config: finished_grace_seconds: 1e+300 seconds is too large"},
		{"refresh zero", map[string]any{"allowed_builders_refresh": 0},
			"config: allowed_builders_refresh: must be a positive number of seconds"},
		{"allowed url ftp", map[string]any{"allowed_builders_url": "ftp://example.com/list"},
			"config: allowed_builders_url: must be an http://, https:// or file:/// URL"},
		{"allowed url relative file", map[string]any{"allowed_builders_url": "file://list.json"},
			"config: allowed_builders_url: a file URL needs an absolute path"},
		{"temporal address no port", map[string]any{"temporal.address": "localhost"},
			`config: temporal.address: "localhost" is not host:port`},
		{"temporal address no host", map[string]any{"temporal.address": ":7233"},
			`config: temporal.address: ":7233" has no host`},
		{"temporal address port zero", map[string]any{"temporal.address": "temporal:0"},
			`config: temporal.address: "temporal:0" has an invalid port`},
		{"temporal namespace empty", map[string]any{"temporal.namespace": ""},
			"config: temporal.namespace: must not be empty"},
		{"temporal task queue empty", map[string]any{"temporal.task_queue": ""},
			"config: temporal.task_queue: must not be empty"},
		{"worker listen no port", map[string]any{"worker.listen": "9464"},
			`config: worker.listen: "9464" is not host:port`},
		{"starter listen bad port", map[string]any{"starter.listen": "127.0.0.1:70000"},
			`config: starter.listen: "127.0.0.1:70000" has an invalid port`},
		{"grpc compression unknown", map[string]any{"temporal.grpc_compression": "zstd"},
			`config: temporal.grpc_compression: "zstd" is not "none" or "gzip"`},
		{"grpc compression not a string", map[string]any{"temporal.grpc_compression": true},
			"config: temporal.grpc_compression: expected a string, got boolean"},
		{"versioning unknown", map[string]any{"temporal.versioning": "pinned"},
			`config: temporal.versioning: "pinned" is not "auto-upgrade" or "off"`},
		{"versioning a boolean", map[string]any{"temporal.versioning": true},
			"config: temporal.versioning: expected a string, got boolean"},
		{"deployment name with a dot", map[string]any{"temporal.deployment_name": "bbb.prod"},
			`config: temporal.deployment_name: "bbb.prod" must not contain any of ".:"`},
		{"deployment name empty", map[string]any{"temporal.deployment_name": ""},
			`config: temporal.deployment_name: must not be empty (leave it out for "buildbot-bridge")`},
		{"build id reserved", map[string]any{"temporal.build_id": "__unversioned__"},
			`config: temporal.build_id: "__unversioned__" must not start with "__" (reserved by Temporal)`},
		{"build id with a space", map[string]any{"temporal.build_id": "v1 rc"},
			`config: temporal.build_id: "v1 rc" must not contain spaces or control characters`},
		{"build id too long", map[string]any{"temporal.build_id": strings.Repeat("a", 256)},
			"config: temporal.build_id: 256 characters, at most 255"},
		{"build id with versioning off", map[string]any{"temporal.versioning": "off", "temporal.build_id": "v1"},
			`config: temporal.versioning is "off": leave out temporal.deployment_name and temporal.build_id, or turn versioning on`},
		{"pollers one", map[string]any{"worker.workflow_task_pollers": 1},
			"config: worker.workflow_task_pollers: must be at least 2, got 1"},
		{"pollers fraction", map[string]any{"worker.workflow_task_pollers": 2.5},
			"config: worker.workflow_task_pollers: must be a whole number, got 2.5"},
		{"pollers string", map[string]any{"worker.workflow_task_pollers": "4"},
			"config: worker.workflow_task_pollers: expected a whole number, got string"},
		{"workflow task slots one", map[string]any{"worker.max_concurrent_workflow_tasks": 1},
			"config: worker.max_concurrent_workflow_tasks: must be at least 2, got 1"},
		{"local activity slots zero", map[string]any{"worker.max_concurrent_local_activities": 0},
			"config: worker.max_concurrent_local_activities: must be at least 1, got 0"},
		{"sticky cache negative", map[string]any{"worker.sticky_cache_size": -5},
			"config: worker.sticky_cache_size: must be at least 1, got -5"},
		{"sticky cache huge", map[string]any{"worker.sticky_cache_size": 1e12},
			"config: worker.sticky_cache_size: 1000000000000 is too large"},
		{"prefetch zero", map[string]any{"starter.prefetch": 0},
			"config: starter.prefetch: must be at least 1, got 0"},
		{"listen collision", map[string]any{"worker.listen": "127.0.0.1:9464", "starter.listen": "127.0.0.1:9464"},
			"config: starter.listen: 127.0.0.1:9464 collides with worker.listen 127.0.0.1:9464"},
		{"listen collision with wildcard", map[string]any{"worker.listen": ":9470", "starter.listen": "127.0.0.1:9470"},
			"config: starter.listen: 127.0.0.1:9470 collides with worker.listen :9470"},
		{"listen collision by default", map[string]any{"starter.listen": "localhost:9464"},
			"config: starter.listen: localhost:9464 collides with worker.listen 127.0.0.1:9464"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parse(t, baseConfig(), noEnv, tt.changes)
			if err == nil {
				t.Fatalf("accepted: %v", c)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q\n  does not start with %q", err, tt.want)
			}
			if strings.Count(err.Error(), "config: ") != 1 || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one single-line message", err)
			}
		})
	}
}

// Listen addresses that do not collide are fine, including port 0.
func TestListenAddressesThatDoNotCollide(t *testing.T) {
	for _, pair := range [][2]string{
		{"127.0.0.1:9464", "127.0.0.2:9464"},
		{"127.0.0.1:0", "127.0.0.1:0"},
		{":9464", ":9465"},
	} {
		if _, _, err := parse(t, baseConfig(), noEnv, map[string]any{"worker.listen": pair[0], "starter.listen": pair[1]}); err != nil {
			t.Errorf("%v: %v", pair, err)
		}
	}
}
