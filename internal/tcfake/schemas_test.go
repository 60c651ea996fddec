package tcfake_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// TestEmbeddedSchemasMatchUpstream keeps tcfake's embedded copy of the queue
// schemas equal to the Taskcluster module in go.mod; regenerate with
// `go generate ./internal/tcfake` after an upgrade.
func TestEmbeddedSchemasMatchUpstream(t *testing.T) {
	upstream := readEntries(t, filepath.Join(taskclusterModuleDir(t), "generated", "references.json"))
	embedded := readEntries(t, filepath.Join("schemas", "queue-v1.json"))
	if len(embedded) < 40 {
		t.Fatalf("only %d embedded schemas", len(embedded))
	}
	for name, content := range embedded {
		if !reflect.DeepEqual(content, upstream[name]) {
			t.Errorf("embedded %s differs from upstream", name)
		}
	}
	for name := range upstream {
		if _, ok := embedded[name]; !ok && filepath.Dir(name) == "schemas/queue/v1" {
			t.Errorf("upstream %s is missing from the embedded copy", name)
		}
	}
}

func readEntries(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Filename string `json:"filename"`
		Content  any    `json:"content"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, e := range entries {
		out[e.Filename] = e.Content
	}
	return out
}

// TestSchemaSetRejects shows the validator the other tests rely on does
// reject what the real queue would: a dropped runId, an unknown state, an
// unexpected property.
func TestSchemaSetRejects(t *testing.T) {
	set := upstreamSchemas(t)
	good := `{"version":1,"runId":0,"status":{"taskId":"HkIGvwQLRCWrCeuowwCngw","provisionerId":"p","workerType":"w","taskQueueId":"p/w","schedulerId":"s","projectId":"none","taskGroupId":"HkIGvwQLRCWrCeuowwCngw","deadline":"2030-01-01T00:00:00.000Z","expires":"2031-01-01T00:00:00.000Z","retriesLeft":5,"state":"pending","runs":[{"runId":0,"state":"pending","reasonCreated":"scheduled","scheduled":"2030-01-01T00:00:00.000Z"}]}}`
	if err := set.Validate("task-pending-message", []byte(good)); err != nil {
		t.Fatalf("valid message rejected: %v", err)
	}
	for name, doc := range map[string]string{
		"no runId":     `{"version":1,"status":{}}`,
		"bad state":    `{"version":1,"runId":0,"status":{"state":"finished"}}`,
		"extra fields": `{"version":1,"runId":0,"status":{},"surprise":true}`,
	} {
		if err := set.Validate("task-pending-message", []byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
	if _, err := tcfake.LoadSchemaSet([]byte(`not json`)); err == nil {
		t.Error("LoadSchemaSet accepted garbage")
	}
}
