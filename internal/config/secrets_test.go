package config_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

func randomSecret(t *testing.T, label string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return label + hex.EncodeToString(b)
}

// No secret of the config reaches a log line, an error, or the config's own
// String/LogValue, whether the load succeeds or fails elsewhere.
func TestSecretsNeverAppear(t *testing.T) {
	token := randomSecret(t, "tok")
	pulsePW := randomSecret(t, "pls")
	dbPW := randomSecret(t, "dbp")
	urlPW := randomSecret(t, "url")
	secrets := []string{token, pulsePW, dbPW, urlPW}

	secretConfig := func() map[string]any {
		m := baseConfig()
		set(m, "taskcluster_queue_config.credentials.accessToken", token)
		set(m, "pulse_password", pulsePW)
		set(m, "buildbot_scheduler_db", "mysql://buildbot:"+dbPW+"@db.example.com/sched?use_unicode=0")
		set(m, "unknown_key", "x")
		return m
	}

	cases := []struct {
		name    string
		changes map[string]any
		env     map[string]string
		ok      bool
	}{
		{name: "success", ok: true},
		{name: "success with pulse_url", ok: true, changes: map[string]any{"pulse_url": "amqps://bbb:" + urlPW + "@pulse.example.com/"}},
		{name: "success with token from env", ok: true, env: map[string]string{"TASKCLUSTER_ACCESS_TOKEN": urlPW}},
		{name: "bad regex", changes: map[string]any{"restricted_builders": []any{"(x"}}},
		{name: "missing worker type", changes: map[string]any{"tclistener.worker_type": del}},
		{name: "db port garbled by an unencoded at sign", changes: map[string]any{"buildbot_scheduler_db": "mysql://buildbot:" + dbPW + "@x:" + dbPW + "@db/sched"}},
		{name: "db host garbled by an unencoded at sign", changes: map[string]any{"buildbot_scheduler_db": "mysql://buildbot:" + dbPW + "@" + dbPW + "@db/sched"}},
		{name: "db unsupported", changes: map[string]any{"buildbot_scheduler_db": "postgresql://buildbot:" + dbPW + "@db/sched"}},
		{name: "pulse_url bad port", changes: map[string]any{"pulse_url": "amqps://bbb:" + urlPW + "@pulse.example.com:99999/"}},
		{name: "pulse_url bad escape", changes: map[string]any{"pulse_url": "amqps://bbb:" + urlPW + "%zz@pulse.example.com/"}},
		{name: "pulse_url wrong scheme", changes: map[string]any{"pulse_url": "https://bbb:" + urlPW + "@pulse.example.com/"}},
		{name: "token of the wrong type", changes: map[string]any{"taskcluster_queue_config.credentials.accessToken": []any{token}}},
		{name: "bad root url from env", env: map[string]string{"TASKCLUSTER_ROOT_URL": "ftp://u:" + urlPW + "@tc"}},
		{name: "selfserve with credentials and bad scheme", changes: map[string]any{"selfserve_url": "ftp://u:" + urlPW + "@buildapi"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, logs, err := parse(t, secretConfig(), envMap(tc.env), tc.changes)
			var seen []string
			if tc.ok {
				if err != nil {
					t.Fatalf("load failed: %v", err)
				}
				// Log the config the ways an operator's code would.
				log := logs.logger()
				log.Info("starting", "config", c)
				log.Info("starting", "config", *c)
				slog.New(slog.NewTextHandler(logs, nil)).Info("starting", "config", c, "scheduler_db", c.SchedulerDB, "pulse", c.PulseURL)
				js, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c),
					c.PulseURLRedacted(), c.SchedulerDB.Redacted(), string(js))
				if !strings.Contains(c.String(), "xxxxx") {
					t.Errorf("String() shows no redaction at all: %s", c)
				}
			} else {
				if err == nil {
					t.Fatal("load succeeded")
				}
				seen = append(seen, err.Error(), fmt.Sprintf("%+v", err))
			}
			seen = append(seen, logs.String())
			for _, out := range seen {
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("secret %s… leaked in: %s", s[:3], out)
					}
				}
			}
		})
	}
}

func TestSecretType(t *testing.T) {
	s := config.Secret("hunter2")
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%#v", s), s.LogValue().String()} {
		if out != "xxxxx" && out != `"xxxxx"` {
			t.Errorf("Secret printed as %q", out)
		}
	}
	if js, _ := json.Marshal(s); string(js) != `"xxxxx"` {
		t.Errorf("Secret encoded as %s", js)
	}
	if config.Secret("").String() != "" {
		t.Error("an empty Secret should print as empty, so a missing value shows")
	}
}
