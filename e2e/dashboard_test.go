package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
)

var metricName = regexp.MustCompile(`\b(?:bbb|temporal)_[a-z0-9_]+\b`)

// checkDashboard fails for any series the Grafana dashboard queries that
// the running processes do not export, so the dashboard cannot drift from
// the code. A few series appear only once something goes wrong; those
// must at least be names the code defines: the bridge's own constants,
// or the SDK's (read from its source in the module cache).
func checkDashboard(t *testing.T, scrape scrapeResult) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "dashboards", "buildbot-bridge.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	onlyOnTrouble := map[string]bool{
		metrics.ReclaimsRefused + "_total":   true,
		metrics.ClaimExpiredFound + "_total": true,
	}
	sdkConstants := sdkMetricConstants(t)
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range metricName.FindAllString(target.Expr, -1) {
				switch {
				case len(scrape[name]) > 0, onlyOnTrouble[name]:
				case strings.HasPrefix(name, "temporal_") && strings.HasSuffix(name, "_failed_total") &&
					strings.Contains(sdkConstants, `"`+strings.TrimSuffix(strings.TrimPrefix(name, "temporal_"), "_total")+`"`):
				default:
					t.Errorf("dashboard panel %q queries %s, which the bridge does not export", p.Title, name)
				}
			}
		}
	}
}

// sdkMetricConstants is the text of the Temporal SDK's metric names, from
// the version this module builds with.
func sdkMetricConstants(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("find the SDK's source: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatalf("read the SDK's metric names: %v", err)
	}
	return string(data)
}
