package config_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// Distinctive secrets planted in the fuzz template. They are fixed, not
// random, so that a crasher in testdata/fuzz reproduces.
const (
	fuzzToken   = "TOKzq8W4xkR2vN7pL0"
	fuzzPulsePW = "PLSj3Hc9Tq5Ym2Bx"
	fuzzDBPW    = "DBPr7Kd2Wn8Zs4Fa"
	fuzzURLPW   = "URLm6Vb1Qe9Gt3Jh"
)

var fuzzSecrets = []string{fuzzToken, fuzzPulsePW, fuzzDBPW, fuzzURLPW}

// fuzzTemplate is the original's sample config with the secrets planted in
// every place a secret can go.
const fuzzTemplate = `{
  "taskcluster_queue_config": {
    "rootUrl": "https://tc.example.com",
    "credentials": {"clientId": "project/releng/buildbot-bridge", "accessToken": "` + fuzzToken + `"}
  },
  "buildbot_scheduler_db": "mysql://buildbot:` + fuzzDBPW + `@db.example.com:3306/scheduler?charset=utf8",
  "bbb_db": "sqlite:///bbb.db",
  "selfserve_url": "http://buildapi.pvt.build.mozilla.org/buildapi/self-serve",
  "pulse_user": "bbb",
  "pulse_password": "` + fuzzPulsePW + `",
  "pulse_queue_basename": "queue/bbb",
  "tc_worker_group": "buildbot-bridge",
  "tc_worker_id": "buildbot-bridge",
  "restricted_builders": ["^release-.*$"],
  "ignored_builders": ["^((?!alder).)*$"],
  "tclistener": {"pulse_exchange_basename": "exchange/taskcluster-queue/v1", "worker_type": "buildbot-bridge", "provisioner_id": "buildbot-bridge", "logfile": "tclistener.log"},
  "bblistener": {"pulse_exchange": "exchange/build", "logfile": "bblistener.log"},
  "reflector": {"interval": 60, "logfile": "reflector.log"}
}`

// FuzzParse: Parse never panics, and a secret written where secrets belong
// never reaches the error, the log, or the loaded config's String and JSON.
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile("testdata/config.json.sample")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(fuzzTemplate))
	for _, edit := range []struct{ old, new string }{
		{`"interval": 60`, `"interval": -1`},
		{`"pulse_user": "bbb",`, `"pulse_url": "amqps://bbb:` + fuzzURLPW + `@pulse.example.com:99999/",`},
		{`"pulse_user": "bbb",`, `"pulse_url": "amqps://bbb:` + fuzzURLPW + `@pulse.example.com/", "temporal": {"address": "127.0.0.1:7233"},`},
		{`@db.example.com:3306`, `@` + fuzzDBPW + `@db.example.com`},
		{`mysql://`, `postgresql://`},
		{`"^release-.*$"`, `"(x"`},
		{`"accessToken": "` + fuzzToken + `"`, `"accessToken": ["` + fuzzToken + `"]`},
		{`"worker_type": "buildbot-bridge"`, `"worker_type": "Bad Type!"`},
		{`}`, ``},
	} {
		f.Add([]byte(strings.Replace(fuzzTemplate, edit.old, edit.new, 1)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"pulse_password": "` + fuzzPulsePW + `"`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c, err := config.Parse(data, nil, log)
		if !secretsOnlyWhereTheyBelong(data) {
			return
		}
		outputs := []string{logs.String()}
		if err != nil {
			outputs = append(outputs, err.Error())
		} else {
			js, jerr := json.Marshal(c)
			if jerr != nil {
				t.Fatalf("a loaded config does not encode: %v", jerr)
			}
			outputs = append(outputs, c.String(), string(js), c.PulseURLRedacted(), c.SchedulerDB.Redacted())
		}
		for _, out := range outputs {
			for _, s := range fuzzSecrets {
				if strings.Contains(out, s) {
					t.Fatalf("secret %s leaked in: %s", s, out)
				}
			}
		}
	})
}

// secretsOnlyWhereTheyBelong reports whether every occurrence of a planted
// secret in the document is a secret value: the access token, the Pulse
// password, or the password part (":secret@") of pulse_url or
// buildbot_scheduler_db. A fuzzed document that moves a secret into, say,
// a worker type legitimately gets it quoted back, and an invalid JSON
// document is held to the rule as a whole (the syntax error quotes at most
// one character).
func secretsOnlyWhereTheyBelong(data []byte) bool {
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		return true
	}
	top, _ := doc.(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	tcq, _ := top["taskcluster_queue_config"].(map[string]any)
	creds, _ := tcq["credentials"].(map[string]any)
	allowed := map[string]int{}
	for _, s := range fuzzSecrets {
		allowed[s] = strings.Count(str(creds, "accessToken"), s) +
			strings.Count(str(top, "pulse_password"), s) +
			strings.Count(str(top, "pulse_url"), ":"+s+"@") +
			strings.Count(str(top, "buildbot_scheduler_db"), ":"+s+"@")
	}
	total := map[string]int{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			for _, s := range fuzzSecrets {
				total[s] += strings.Count(v, s)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				walk(k)
				walk(x)
			}
		}
	}
	walk(doc)
	for _, s := range fuzzSecrets {
		if total[s] != allowed[s] {
			return false
		}
	}
	return true
}
