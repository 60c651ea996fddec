package deploycheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Prometheus scrapes both bridge processes on the ports their health
// endpoints (and /metrics) listen on in deploy/config.json, and Temporal's
// server on the endpoint compose gives it.
func TestPrometheusScrapesTheBridge(t *testing.T) {
	root := repoRoot(t)
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	var bridge struct {
		Worker  struct{ Listen string } `json:"worker"`
		Starter struct{ Listen string } `json:"starter"`
	}
	data, err = os.ReadFile(filepath.Join(root, "deploy", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &bridge); err != nil {
		t.Fatal(err)
	}
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	p := mustLoadCompose(t)
	temporalMetrics := service(t, p, "temporal").Environment["PROMETHEUS_ENDPOINT"]
	if temporalMetrics == nil {
		t.Fatal("temporal exports no metrics (PROMETHEUS_ENDPOINT unset)")
	}
	for _, want := range []string{"worker:" + port(bridge.Worker.Listen), "starter:" + port(bridge.Starter.Listen), "temporal:" + port(*temporalMetrics)} {
		if !slices.Contains(targets, want) {
			t.Errorf("prometheus scrapes %v, not %s", targets, want)
		}
	}
}

// Grafana is provisioned with the Prometheus data source and the bridge's
// dashboard from the repository.
func TestGrafanaProvisioning(t *testing.T) {
	root := repoRoot(t)
	g := service(t, mustLoadCompose(t), "grafana")
	mounts := map[string]string{}
	for _, v := range g.Volumes {
		mounts[v.Target] = v.Source
	}
	if mounts["/etc/grafana/provisioning"] != filepath.Join(root, "deploy", "grafana", "provisioning") ||
		mounts["/var/lib/grafana/dashboards"] != filepath.Join(root, "deploy", "grafana", "dashboards") {
		t.Errorf("grafana mounts %v", mounts)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "buildbot-bridge.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard has no uid or no panels")
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q queries nothing", p.Title)
		}
	}
}
