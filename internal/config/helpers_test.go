package config_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// logCapture records every log line of a load as JSON.
type logCapture struct {
	testenv.SyncBuffer
}

func (l *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logRecord struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Key   string `json:"key"`
}

func (l *logCapture) records(t *testing.T) []logRecord {
	t.Helper()
	var out []logRecord
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, r)
	}
	return out
}

// baseConfig is a complete, valid config in the original's shape.
func baseConfig() map[string]any {
	return map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl": "https://tc.example.com",
			"credentials": map[string]any{
				"clientId":    "project/releng/buildbot-bridge",
				"accessToken": "token-value",
			},
		},
		"buildbot_scheduler_db": "mysql://buildbot:dbpass@db.example.com/buildbot_schedulers",
		"selfserve_url":         "https://buildapi.example.com/buildapi/self-serve",
		"pulse_user":            "bbb",
		"pulse_password":        "pulsepass",
		"pulse_queue_basename":  "queue/bbb/prod",
		"tc_worker_group":       "buildbot-bridge",
		"tc_worker_id":          "buildbot-bridge",
		"restricted_builders":   []any{"^release-.*$"},
		"ignored_builders":      []any{},
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             "buildbot-bridge",
			"provisioner_id":          "buildbot-bridge",
		},
		"bblistener": map[string]any{"pulse_exchange": "exchange/build"},
		"reflector":  map[string]any{"interval": 60},
	}
}

// set puts value at a dotted path, creating objects on the way; a nil
// value deletes the key.
func set(m map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	last := parts[len(parts)-1]
	if value == nil {
		delete(m, last)
		return
	}
	m[last] = value
}

type deleted struct{}

// del marks a key for removal in a table row (set with nil deletes).
var del = deleted{}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noEnv(string) string { return "" }

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// parse loads m with changes applied and returns the config, the captured
// log and the error.
func parse(t *testing.T, m map[string]any, env func(string) string, changes map[string]any) (*config.Config, *logCapture, error) {
	t.Helper()
	for path, v := range changes {
		if _, ok := v.(deleted); ok {
			v = nil
		}
		set(m, path, v)
	}
	logs := &logCapture{}
	c, err := config.Parse(mustJSON(t, m), env, logs.logger())
	return c, logs, err
}
