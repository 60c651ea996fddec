package bridge

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// The config docker-compose.yml mounts must load as shipped, with the
// secret coming from the environment as the compose file passes it.
func TestDeployConfigLoads(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "deploy", "config.json")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvAccessToken: "from-the-environment"}
	cfg, err := config.Load(path, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("deploy/config.json: %v", err)
	}
	if string(cfg.Taskcluster.AccessToken) != "from-the-environment" {
		t.Errorf("TASKCLUSTER_ACCESS_TOKEN did not win over the file")
	}
	if cfg.Temporal.Address != "temporal:7233" || cfg.SchedulerDB.Host != "mysql" {
		t.Errorf("deploy config does not point at the compose services: %s, %s", cfg.Temporal.Address, cfg.SchedulerDB.Host)
	}
}
