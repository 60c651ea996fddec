// Command schemagen copies the queue's JSON schemas out of the Taskcluster
// module's generated/references.json into ../../schemas/queue-v1.json, the copy
// the stand-in queue embeds. Run it through `go generate ./internal/tcfake`
// after upgrading github.com/taskcluster/taskcluster.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const module = "github.com/taskcluster/taskcluster/v44"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return fmt.Errorf("locate %s: %w", module, err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "generated", "references.json"))
	if err != nil {
		return err
	}
	var entries []map[string]any
	if err := json.Unmarshal(raw, &entries); err != nil {
		return err
	}
	var keep []map[string]any
	for _, e := range entries {
		name, _ := e["filename"].(string)
		if strings.HasPrefix(name, "schemas/queue/v1/") || name == "schemas/common/metaschema.json" {
			keep = append(keep, e)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i]["filename"].(string) < keep[j]["filename"].(string) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(keep); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join("schemas", "queue-v1.json"), buf.Bytes(), 0o644)
}
