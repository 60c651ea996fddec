package bridge

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// syncBuffer is a log sink several goroutines may write to.
type syncBuffer = testenv.SyncBuffer

// writeConfig writes the original sample config with overrides.
func writeConfig(t *testing.T, overrides map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     "http://127.0.0.1:1",
			"credentials": map[string]any{"clientId": "project/releng/buildbot-bridge", "accessToken": "tok-4f9c2e81d7a3b6"},
		},
		"buildbot_scheduler_db": "sqlite:///" + filepath.Join(t.TempDir(), "scheduler.db"),
		"selfserve_url":         "http://buildapi.example/buildapi/self-serve",
		"pulse_user":            "bbb", "pulse_password": "pulse-pw-8d1e55",
		"pulse_queue_basename": "queue/bbb",
		"tc_worker_group":      "buildbot-bridge", "tc_worker_id": "buildbot-bridge",
		"restricted_builders": []string{"^release-.*$"},
		"ignored_builders":    []string{"^((?!alder).)*$"},
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             "buildbot-bridge", "provisioner_id": "buildbot-bridge",
		},
		"bblistener": map[string]any{"pulse_exchange": "exchange/build"},
		"reflector":  map[string]any{"interval": 60},
		"temporal":   map[string]any{"address": "127.0.0.1:1", "namespace": "default", "task_queue": "buildbot-bridge"},
	}
	for k, v := range overrides {
		cfg[k] = v
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunPreparesSchedulerDBBeforeTemporal(t *testing.T) {
	dbURL := testenv.MariaDBURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := schedulerdb.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	path := writeConfig(t, map[string]any{"buildbot_scheduler_db": dbURL})
	runCtx, runCancel := context.WithTimeout(ctx, 10*time.Second)
	defer runCancel()
	err = RunWithConfigFile(runCtx, path, slog.New(slog.NewTextHandler(logs, nil)), RunWorker)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("run = %v, want a Temporal connection error naming the address", err)
	}
	// The bridge's own table was created before Temporal was dialled.
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM bbb_tasks").Scan(&n); err != nil {
		t.Errorf("bbb_tasks not created: %v", err)
	}
	for _, secret := range []string{"tok-4f9c2e81d7a3b6", "pulse-pw-8d1e55"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs leak %q:\n%s", secret, logs)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	path := writeConfig(t, map[string]any{"reflector": map[string]any{"interval": "soon"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := RunWithConfigFile(ctx, path, slog.New(slog.DiscardHandler), RunWorker)
	if err == nil || !strings.Contains(err.Error(), "reflector.interval") {
		t.Fatalf("run = %v, want an error naming reflector.interval", err)
	}
}

func TestRunUnreachableDBKeepsPasswordOut(t *testing.T) {
	path := writeConfig(t, map[string]any{"buildbot_scheduler_db": "mysql://bbb:db-pw-93c0aa71@127.0.0.1:1/scheduler"})
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := RunWithConfigFile(ctx, path, slog.New(slog.NewTextHandler(logs, nil)), RunWorker)
	if err == nil {
		t.Fatal("run succeeded with no database")
	}
	if strings.Contains(err.Error(), "db-pw-93c0aa71") || strings.Contains(logs.String(), "db-pw-93c0aa71") {
		t.Errorf("password leaked: err %v\nlogs:\n%s", err, logs)
	}
}
