package localdeploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// A deployment's config is one the bridge accepts, and says what the
// deployment chose: the bridge then claims as the identity the stand-in
// queue's scopes allow, and a zero value leaves the bridge's default.
func TestBridgeConfigIsReadByTheBridgeAsChosen(t *testing.T) {
	id := NewIdentity("test")
	c := BridgeConfig{
		Identity: id, RootURL: "http://127.0.0.1:1", AccessToken: "token",
		AMQPURL: "amqp://guest:guest@127.0.0.1:5672/v", Backend: Backend08("sqlite:////tmp/x.db", "http://127.0.0.1:2"),
		TemporalAddress: "127.0.0.1:3", Namespace: "ns", TaskQueue: "tq",
		WorkerListen: "127.0.0.1:4", StarterListen: "127.0.0.1:5",
		ReflectorInterval: 5 * time.Second, FinishedGrace: 10 * time.Second,
		RestrictedBuilders: []string{"^release-"},
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("the bridge refuses the config: %v", err)
	}
	if cfg.TCWorkerGroup != id.WorkerGroup || cfg.TCWorkerID != id.WorkerID ||
		cfg.TCListener.ProvisionerID != id.ProvisionerID || cfg.TCListener.WorkerType != id.WorkerType ||
		cfg.Taskcluster.ClientID != id.BridgeClientID || cfg.PulseQueueBasename != id.QueueBasename {
		t.Errorf("identity: %+v, %+v, %s, %s; want %+v", cfg.TCListener, cfg.Taskcluster, cfg.TCWorkerGroup, cfg.TCWorkerID, id)
	}
	scopes := id.BridgeScopes()
	if !slices.Contains(scopes, "queue:worker-id:"+cfg.TCWorkerGroup+"/"+cfg.TCWorkerID) ||
		!slices.Contains(scopes, "queue:claim-task:"+cfg.TCListener.ProvisionerID+"/"+cfg.TCListener.WorkerType) {
		t.Errorf("the bridge's scopes %v do not let it claim as it is configured", scopes)
	}
	if cfg.Reflector.Interval != 5*time.Second || cfg.FinishedGrace != 10*time.Second {
		t.Errorf("reflector %s, grace %s; want 5s, 10s", cfg.Reflector.Interval, cfg.FinishedGrace)
	}
	if cfg.Reclaim.Lead != config.DefaultReclaimLead {
		t.Errorf("reclaim lead %s, want the default %s when left out", cfg.Reclaim.Lead, config.DefaultReclaimLead)
	}
	if cfg.Temporal.Address != "127.0.0.1:3" || cfg.Worker.Listen != "127.0.0.1:4" || cfg.Starter.Listen != "127.0.0.1:5" ||
		cfg.SelfServeURL != "http://127.0.0.1:2" || !slices.Equal(cfg.RestrictedBuilders.Sources(), []string{"^release-"}) {
		t.Errorf("config read back as %+v", cfg)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file (it holds the bridge's token) has mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
