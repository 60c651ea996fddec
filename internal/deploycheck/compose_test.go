package deploycheck

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
)

// The services a deployment runs (issue 4): Temporal on PostgreSQL, its Web
// UI and admin tools, RabbitMQ for Pulse, MySQL for the scheduler DB, the
// bridge's two processes, and Prometheus and Grafana (issue 13).
var wantServices = []string{"grafana", "mysql", "postgresql", "prometheus", "rabbitmq", "starter", "temporal", "temporal-admin-tools", "temporal-ui", "worker"}

func TestComposeServices(t *testing.T) {
	p := mustLoadCompose(t)
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, wantServices) {
		t.Fatalf("services = %v, want %v", got, wantServices)
	}
	for _, name := range []string{"worker", "starter"} {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s is not built from the repository", name)
			continue
		}
		if s.Build.Context != repoRoot(t) || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s builds %s with %s, want the repository root with its Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
		}
	}
	// A pinned tag, so that `docker compose pull` next month runs what was
	// tested; Temporal's own images are the ones that exist on Docker Hub.
	images := map[string]*regexp.Regexp{
		"temporal":             regexp.MustCompile(`^temporalio/auto-setup:\d+\.\d+\.\d+$`),
		"temporal-admin-tools": regexp.MustCompile(`^temporalio/admin-tools:\d+\.\d+\.\d+(-tctl-[\d.]+-cli-[\d.]+)?$`),
		"temporal-ui":          regexp.MustCompile(`^temporalio/ui:\d+\.\d+\.\d+$`),
		"postgresql":           regexp.MustCompile(`^postgres:\d+`),
		"rabbitmq":             regexp.MustCompile(`^rabbitmq:[\d.]+-management$`),
		"mysql":                regexp.MustCompile(`^mysql:8`),
		"prometheus":           regexp.MustCompile(`^prom/prometheus:v\d+\.\d+\.\d+$`),
		"grafana":              regexp.MustCompile(`^grafana/grafana:\d+\.\d+\.\d+$`),
	}
	for name, re := range images {
		if img := service(t, p, name).Image; !re.MatchString(img) {
			t.Errorf("%s image %q, want %s", name, img, re)
		}
	}
}

func TestComposePorts(t *testing.T) {
	p := mustLoadCompose(t)
	cfg := readDeployConfig(t)
	_, workerPort := splitHostPort(t, "worker.listen", cfg.Worker.Listen)
	_, starterPort := splitHostPort(t, "starter.listen", cfg.Starter.Listen)
	want := map[string][]string{
		"temporal":             {"7233:7233"},
		"temporal-ui":          {"8233:8080"}, // the same URL as the demo's Web UI
		"rabbitmq":             {"5672:5672", "15672:15672"},
		"mysql":                {"3306:3306"},
		"worker":               {workerPort + ":" + workerPort},
		"starter":              {starterPort + ":" + starterPort},
		"postgresql":           nil,
		"temporal-admin-tools": nil,
	}
	for name, ports := range want {
		var got []string
		for _, pc := range service(t, p, name).Ports {
			got = append(got, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
		}
		slices.Sort(got)
		ports = slices.Sorted(slices.Values(ports))
		if !slices.Equal(got, ports) {
			t.Errorf("%s publishes %v, want %v", name, got, ports)
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	p := mustLoadCompose(t)
	want := map[string][]string{
		"temporal":             {"postgresql"},
		"temporal-ui":          {"temporal"},
		"temporal-admin-tools": {"temporal"},
		"worker":               {"mysql", "temporal"},
		"starter":              {"mysql", "rabbitmq", "temporal"},
		"grafana":              {"prometheus"},
	}
	for _, name := range wantServices {
		s := service(t, p, name)
		var deps []string
		for dep, d := range s.DependsOn {
			deps = append(deps, dep)
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s waits for %s to be %q, want %q", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
		}
		slices.Sort(deps)
		if !slices.Equal(deps, want[name]) {
			t.Errorf("%s depends on %v, want %v", name, deps, want[name])
		}
	}

	// The order compose starts them in.
	var mu sync.Mutex
	var order []string
	err := graph.InDependencyOrder(context.Background(), p, func(_ context.Context, name string, _ types.ServiceConfig) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, name)
		return nil
	}, graph.WithMaxConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	before := func(a, b string) {
		if slices.Index(order, a) > slices.Index(order, b) {
			t.Errorf("start order %v: %s after %s", order, a, b)
		}
	}
	before("postgresql", "temporal")
	for _, bridge := range []string{"worker", "starter"} {
		before("temporal", bridge)
		before("mysql", bridge)
	}
	before("rabbitmq", "starter")
}

func TestComposeHealthchecks(t *testing.T) {
	p := mustLoadCompose(t)
	for _, name := range wantServices {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s has no healthcheck (depends_on service_healthy would wait forever): %+v", name, hc)
		}
	}
	// tctl is not in Temporal's recent images; the temporal CLI is.
	if hc := service(t, p, "temporal").HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "temporal operator cluster health") {
		t.Errorf("temporal healthcheck is not `temporal operator cluster health`: %v", healthTest(hc))
	}
	for _, name := range wantServices {
		if hc := service(t, p, name).HealthCheck; hc != nil && slices.Contains(hc.Test, "tctl") {
			t.Errorf("%s healthcheck uses tctl: %v", name, hc.Test)
		}
	}

	// The bridge's processes answer GET /healthz on the listen address
	// deploy/config.json gives them, inside the container.
	cfg := readDeployConfig(t)
	for name, listen := range map[string]string{"worker": cfg.Worker.Listen, "starter": cfg.Starter.Listen} {
		host, port := splitHostPort(t, name+".listen", listen)
		if host != "0.0.0.0" && host != "" {
			t.Errorf("deploy/config.json %s.listen = %q: not reachable from outside the container", name, listen)
		}
		hc := service(t, p, name).HealthCheck
		if hc == nil {
			continue // reported above
		}
		test := hc.Test
		if len(test) < 2 || test[0] != "CMD" {
			t.Errorf("%s healthcheck %v: want the exec form", name, test)
			continue
		}
		if wantURL := "http://127.0.0.1:" + port + "/healthz"; !slices.Contains(test, wantURL) {
			t.Errorf("%s healthcheck %v does not GET %s", name, test, wantURL)
		}
		// The tool must be in the runtime image.
		if installed := runtimePackages(t); !slices.Contains(installed, test[1]) {
			t.Errorf("%s healthcheck runs %s, which the Dockerfile's runtime stage does not install (it installs %v)", name, test[1], installed)
		}
	}
}

// The bridge reads the mounted deploy/config.json, and that file points at
// the compose services.
func TestComposeBridgeConfig(t *testing.T) {
	p := mustLoadCompose(t)
	root := repoRoot(t)
	for _, name := range []string{"worker", "starter"} {
		s := service(t, p, name)
		var target string
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && v.Source == filepath.Join(root, "deploy", "config.json") {
				target = v.Target
				if !v.ReadOnly {
					t.Errorf("%s mounts deploy/config.json writable", name)
				}
			}
		}
		if target == "" {
			t.Errorf("%s does not mount deploy/config.json: %+v", name, s.Volumes)
			continue
		}
		cmd := []string(s.Command)
		i := slices.Index(cmd, "-config")
		if i < 0 || i+1 >= len(cmd) || cmd[i+1] != target {
			t.Errorf("%s command %v does not read the mounted %s", name, cmd, target)
		}
		if want := "/usr/local/bin/bbb-" + name; len(cmd) == 0 || cmd[0] != want {
			t.Errorf("%s command %v, want it to run %s", name, cmd, want)
		} else if !slices.Contains(imageBinaries(t), want) {
			t.Errorf("%s runs %s, which the Dockerfile does not put in the image (it has %v)", name, want, imageBinaries(t))
		}
	}

	cfg := readDeployConfig(t)
	host, port := splitHostPort(t, "temporal.address", cfg.Temporal.Address)
	if host != "temporal" || port != "7233" {
		t.Errorf("deploy/config.json temporal.address = %q, want the compose service temporal:7233", cfg.Temporal.Address)
	}
	db, err := url.Parse(cfg.SchedulerDB)
	if err != nil {
		t.Fatalf("buildbot_scheduler_db: %v", err)
	}
	mysqlDB := service(t, p, "mysql").Environment["MYSQL_DATABASE"]
	if db.Scheme != "mysql" || db.Hostname() != "mysql" || (db.Port() != "" && db.Port() != "3306") ||
		mysqlDB == nil || strings.TrimPrefix(db.Path, "/") != *mysqlDB {
		t.Errorf("deploy/config.json buildbot_scheduler_db = %q, want the compose service mysql's database %v", db.Redacted(), mysqlDB)
	}
	pulse, err := url.Parse(cfg.PulseURL)
	if err != nil {
		t.Fatalf("pulse_url: %v", err)
	}
	if pulse.Scheme != "amqp" || pulse.Hostname() != "rabbitmq" || pulse.Port() != "5672" {
		t.Errorf("deploy/config.json pulse_url = %q, want the compose service rabbitmq:5672", pulse.Redacted())
	}

	// The scheduler DB stand-in gets Buildbot 0.8's tables at first start,
	// from the same DDL the tests and the demo use.
	schema := filepath.Join(root, "internal", "schedulerdb", "schema_mysql.sql")
	found := false
	for _, v := range service(t, p, "mysql").Volumes {
		if v.Source == schema && strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") && strings.HasSuffix(v.Target, ".sql") {
			found = true
		}
	}
	if !found {
		t.Errorf("mysql does not load %s through /docker-entrypoint-initdb.d", schema)
	}
	if _, err := os.Stat(schema); err != nil {
		t.Error(err)
	}
}

// TASKCLUSTER_* come from the operator's environment; the access token is
// required, the others override deploy/config.json only when set.
func TestComposeTaskclusterEnvironment(t *testing.T) {
	env := map[string]string{
		"TASKCLUSTER_ACCESS_TOKEN": "tok-from-the-operators-shell",
		"TASKCLUSTER_CLIENT_ID":    "project/releng/bbb-staging",
		"TASKCLUSTER_ROOT_URL":     "https://tc-staging.example.com",
	}
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker", "starter"} {
		got := service(t, p, name).Environment
		for k, v := range env {
			if got[k] == nil || *got[k] != v {
				t.Errorf("%s: %s is not passed from the environment", name, k)
			}
		}
	}

	p, err = loadCompose(t, deployEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker", "starter"} {
		got := service(t, p, name).Environment
		for _, k := range []string{"TASKCLUSTER_CLIENT_ID", "TASKCLUSTER_ROOT_URL"} {
			// Unset or empty: the bridge then uses deploy/config.json's.
			if v := got[k]; v != nil && *v != "" {
				t.Errorf("%s: %s = %q with nothing in the environment", name, k, *v)
			}
		}
	}

	_, err = loadCompose(t, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "TASKCLUSTER_ACCESS_TOKEN") {
		t.Errorf("without TASKCLUSTER_ACCESS_TOKEN compose should refuse to start, naming it; got %v", err)
	}
}

// No secret is written in the file: every credential is an interpolation
// from the environment.
func TestComposeHasNoSecrets(t *testing.T) {
	p, err := loadCompose(t, nil, cli.WithInterpolation(false))
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`(?i)(TOKEN|PASSWORD|PWD|SECRET|CREDENTIAL)`)
	checked := 0
	for _, name := range wantServices {
		for k, v := range service(t, p, name).Environment {
			if !secret.MatchString(k) || k == "MYSQL_ALLOW_EMPTY_PASSWORD" {
				continue
			}
			checked++
			if v == nil || !strings.HasPrefix(*v, "${") {
				t.Errorf("%s: %s is written in docker-compose.yml instead of coming from the environment", name, k)
			}
		}
	}
	if checked < 4 {
		t.Errorf("only %d credential variables found; the bridge's TASKCLUSTER_ACCESS_TOKEN should be among them", checked)
	}
}

func healthTest(hc *types.HealthCheckConfig) []string {
	if hc == nil {
		return nil
	}
	return hc.Test
}
