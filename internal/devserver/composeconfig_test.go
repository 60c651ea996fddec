package devserver_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
)

// The compose deployment's dynamic config (deploy/temporal) must load
// without an error or a warning in the server's own loader: a misspelt key
// or a constraint the key does not take is only a warning in the server's
// log, and the setting silently does nothing. (internal/deploycheck checks
// that compose mounts it and that it names the bridge's task queue.)
func TestComposeDynamicConfigLoads(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "temporal", "dynamicconfig.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lr := dynamicconfig.LoadYamlFile(data)
	for _, e := range append(lr.Errors, lr.Warnings...) {
		t.Errorf("%s: %v", path, e)
	}
	for _, key := range []dynamicconfig.Key{
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key(),
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(),
	} {
		vs := lr.Map[key]
		if len(vs) != 1 || vs[0].Value != 1 || vs[0].Constraints.TaskQueueName == "" {
			t.Errorf("%s: %s = %+v; want 1 for one task queue", path, key, vs)
		}
	}
}
