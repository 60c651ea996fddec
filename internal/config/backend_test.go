package config_test

import (
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// restConfig is a complete config for a modern Buildbot master.
func restConfig() map[string]any {
	m := baseConfig()
	delete(m, "buildbot_scheduler_db")
	delete(m, "selfserve_url")
	delete(m, "bblistener")
	m["buildbot"] = map[string]any{
		"api_url":         "http://buildbot.example.org:8010",
		"user":            "bridge",
		"password":        "bb-secret",
		"events_password": "push-secret",
	}
	return m
}

func TestRESTBackendRead(t *testing.T) {
	c, _, err := parse(t, restConfig(), noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != config.BackendREST || c.Buildbot == nil {
		t.Fatalf("backend %q, buildbot %+v", c.Backend(), c.Buildbot)
	}
	b := c.Buildbot
	if b.APIURL != "http://buildbot.example.org:8010/" || b.User != "bridge" || string(b.Password) != "bb-secret" ||
		b.ForceScheduler != "taskcluster" || b.EventsListen != "127.0.0.1:9466" || string(b.EventsPassword) != "push-secret" {
		t.Errorf("read %+v", *b)
	}
	for _, secret := range []string{"bb-secret", "push-secret"} {
		if strings.Contains(c.String(), secret) {
			t.Errorf("config's String shows a secret: %s", c.String())
		}
	}
	if !strings.Contains(c.String(), "buildbot.api_url=http://buildbot.example.org:8010/") {
		t.Errorf("config's String does not show the API URL: %s", c.String())
	}
}

func TestRESTBackendSecretsFromEnvironment(t *testing.T) {
	c, _, err := parse(t, restConfig(), envMap(map[string]string{
		config.EnvBuildbotPassword:       "from-env",
		config.EnvBuildbotEventsPassword: "events-env",
	}), map[string]any{"buildbot.password": "", "buildbot.events_password": del})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Buildbot.Password) != "from-env" || string(c.Buildbot.EventsPassword) != "events-env" {
		t.Errorf("environment not applied: %+v", *c.Buildbot)
	}
	// The environment wins over the file.
	c, _, err = parse(t, restConfig(), envMap(map[string]string{config.EnvBuildbotPassword: "from-env"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Buildbot.Password) != "from-env" {
		t.Errorf("file won over %s", config.EnvBuildbotPassword)
	}
}

func TestRESTBackendWithoutAuth(t *testing.T) {
	c, _, err := parse(t, restConfig(), noEnv, map[string]any{"buildbot.user": del, "buildbot.password": del})
	if err != nil {
		t.Fatal(err)
	}
	if c.Buildbot.User != "" || c.Buildbot.Password != "" {
		t.Errorf("credentials invented: %+v", *c.Buildbot)
	}
}

func TestBackendChoiceRefused(t *testing.T) {
	tests := []struct {
		name    string
		base    func() map[string]any
		changes map[string]any
		want    string
	}{
		{"both", restConfig, map[string]any{"buildbot_scheduler_db": "mysql://u:p@h/db", "selfserve_url": "https://b.example.com/"},
			"config: buildbot and buildbot_scheduler_db and selfserve_url: configure one Buildbot backend, not both"},
		{"both, one 0.8 key", restConfig, map[string]any{"selfserve_url": "https://b.example.com/"},
			"config: buildbot and selfserve_url: configure one Buildbot backend"},
		{"rest with a Buildbot 0.8 exchange", restConfig, map[string]any{"bblistener.pulse_exchange": "exchange/build"},
			"config: buildbot and bblistener.pulse_exchange: configure one Buildbot backend"},
		{"neither", baseConfig, map[string]any{"buildbot_scheduler_db": del, "selfserve_url": del},
			"config: no Buildbot configured: set buildbot (Buildbot 3.x/4.x) or buildbot_scheduler_db and selfserve_url (Buildbot 0.8)"},
		{"api_url missing", restConfig, map[string]any{"buildbot.api_url": del}, "config: buildbot.api_url: missing"},
		{"api_url not http", restConfig, map[string]any{"buildbot.api_url": "ftp://b.example.org/"},
			"config: buildbot.api_url: must be an http:// or https:// URL"},
		{"api_url with credentials", restConfig, map[string]any{"buildbot.api_url": "http://u:pw@b.example.org/"},
			"config: buildbot.api_url: put the credentials in buildbot.user and buildbot.password"},
		{"api_url is the API path", restConfig, map[string]any{"buildbot.api_url": "http://b.example.org:8010/api/v2"},
			"config: buildbot.api_url: give the master's web root (http://b.example.org:8010/), not its API path"},
		{"password without user", restConfig, map[string]any{"buildbot.user": del},
			"config: buildbot.password: a password needs buildbot.user"},
		{"user without password", restConfig, map[string]any{"buildbot.password": del},
			"config: buildbot.password: missing (or set BUILDBOT_PASSWORD): buildbot.user is set"},
		{"events password missing", restConfig, map[string]any{"buildbot.events_password": del},
			"config: buildbot.events_password: missing (or set BUILDBOT_EVENTS_PASSWORD)"},
		{"events_listen bad", restConfig, map[string]any{"buildbot.events_listen": "nohost"},
			`config: buildbot.events_listen: "nohost" is not host:port`},
		{"events_listen collides", restConfig, map[string]any{"buildbot.events_listen": "127.0.0.1:9465"},
			"config: buildbot.events_listen: 127.0.0.1:9465 collides with starter.listen"},
		{"force_scheduler empty", restConfig, map[string]any{"buildbot.force_scheduler": ""},
			"config: buildbot.force_scheduler: must not be empty"},
		{"buildbot not an object", restConfig, map[string]any{"buildbot": "http://b.example.org/"},
			"config: buildbot: expected an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parse(t, tt.base(), noEnv, tt.changes)
			if err == nil {
				t.Fatalf("accepted: %v", c)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q\n  does not start with %q", err, tt.want)
			}
			for _, secret := range []string{"bb-secret", "push-secret", "pw@"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %q", err)
				}
			}
		})
	}
}

// The original's config.json, which knows nothing of the buildbot section,
// still chooses Buildbot 0.8.
func TestOriginalConfigIsBuildbot08(t *testing.T) {
	c, _, err := parse(t, baseConfig(), noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != config.Backend08 || c.Buildbot != nil || c.SelfServeURL == "" {
		t.Errorf("backend %q, buildbot %+v, selfserve %q", c.Backend(), c.Buildbot, c.SelfServeURL)
	}
}
