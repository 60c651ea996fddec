package deploycheck

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// The compose deployment's Temporal server gives the bridge's task queue
// one partition. The setting names the namespace and task queue: renamed
// in deploy/config.json and not here, it would silently apply to nothing.
// (internal/devserver's test loads the same file with the server's own
// loader, which refuses unknown keys and constraints.)
func TestComposeTemporalDynamicConfig(t *testing.T) {
	p := mustLoadCompose(t)
	s := service(t, p, "temporal")
	file := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if file == nil || *file == "" {
		t.Fatal("the temporal service sets no DYNAMIC_CONFIG_FILE_PATH")
	}
	// The image resolves a relative path from /etc/temporal.
	target := *file
	if !path.IsAbs(target) {
		target = path.Join("/etc/temporal", target)
	}
	var host string
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(target, v.Target+"/") {
			continue
		}
		if !v.ReadOnly {
			t.Errorf("temporal mounts %s writable", v.Source)
		}
		host = filepath.Join(v.Source, strings.TrimPrefix(target, v.Target+"/"))
	}
	if host == "" {
		t.Fatalf("DYNAMIC_CONFIG_FILE_PATH %s is not in a folder the temporal service mounts: %+v", target, s.Volumes)
	}
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var settings map[string][]struct {
		Value       any
		Constraints map[string]string
	}
	if err := yaml.Unmarshal(data, &settings); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	cfg := readDeployConfig(t)
	for _, key := range []string{"matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"} {
		vs := settings[key]
		if len(vs) != 1 {
			t.Errorf("%s: %d values for %s, want one", host, len(vs), key)
			continue
		}
		if vs[0].Value != 1 {
			t.Errorf("%s: %s = %v, want 1", host, key, vs[0].Value)
		}
		c := vs[0].Constraints
		if c["namespace"] != cfg.Temporal.Namespace || c["taskQueueName"] != cfg.Temporal.TaskQueue {
			t.Errorf("%s: %s applies to namespace %q, task queue %q; deploy/config.json's bridge uses %q, %q",
				host, key, c["namespace"], c["taskQueueName"], cfg.Temporal.Namespace, cfg.Temporal.TaskQueue)
		}
	}
}
