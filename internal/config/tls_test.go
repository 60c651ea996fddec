package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func TestTLSSectionsLoad(t *testing.T) {
	pki := testenv.NewPKI(t)
	c, logs, err := parse(t, baseConfig(), noEnv, map[string]any{
		"pulse_url": "amqps://bbb:pw@pulse.example.com:5671/",
		"pulse_tls": map[string]any{"ca_file": pki.CAFile, "cert_file": pki.ClientCertFile, "key_file": pki.ClientKeyFile},
		"temporal.tls": map[string]any{"ca_file": pki.CAFile, "cert_file": pki.ClientCertFile, "key_file": pki.ClientKeyFile,
			"server_name": "temporal.test"},
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	for _, r := range logs.records(t) {
		if strings.Contains(r.Key, "tls") {
			t.Errorf("TLS key warned about: %+v", r)
		}
	}
	if !c.PulseTLS.Enabled() || !c.Temporal.TLS.Enabled() {
		t.Fatal("a TLS section is not enabled")
	}
	for name, cfg := range map[string]struct {
		serverName string
		got        func() (int, bool, string)
	}{
		"pulse_tls": {"", func() (int, bool, string) {
			x := c.PulseTLS.ClientConfig()
			return len(x.Certificates), x.RootCAs != nil, x.ServerName
		}},
		"temporal.tls": {"temporal.test", func() (int, bool, string) {
			x := c.Temporal.TLS.ClientConfig()
			return len(x.Certificates), x.RootCAs != nil, x.ServerName
		}},
	} {
		certs, hasCA, sn := cfg.got()
		if certs != 1 || !hasCA || sn != cfg.serverName {
			t.Errorf("%s: %d client certificates, CA pool %v, server name %q; want 1, true, %q", name, certs, hasCA, sn, cfg.serverName)
		}
	}
}

func TestTLSSectionsAbsent(t *testing.T) {
	c, _, err := parse(t, baseConfig(), noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.PulseTLS.ClientConfig() != nil || c.Temporal.TLS.ClientConfig() != nil {
		t.Error("no TLS section, yet a tls.Config")
	}
}

func TestTLSSectionsRefused(t *testing.T) {
	pki := testenv.NewPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	// A key file that is not PEM: its bytes must not be echoed.
	const keyBytes = "KEYMATERIALq3Zx9Lw2"
	if err := os.WriteFile(garbage, []byte("not a PEM file "+keyBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	amqps := map[string]any{"pulse_url": "amqps://bbb:pw@pulse.example.com/"}
	tests := []struct {
		name    string
		changes map[string]any
		want    string // the key the one error must name
	}{
		{"pulse CA file missing", map[string]any{"pulse_tls": map[string]any{"ca_file": missing}}, "pulse_tls.ca_file"},
		{"temporal CA file not PEM", map[string]any{"temporal.tls": map[string]any{"ca_file": garbage}}, "temporal.tls.ca_file"},
		{"pulse cert without key", map[string]any{"pulse_tls": map[string]any{"cert_file": pki.ClientCertFile}}, "pulse_tls.key_file"},
		{"temporal key without cert", map[string]any{"temporal.tls": map[string]any{"key_file": pki.ClientKeyFile}}, "temporal.tls.cert_file"},
		{"pulse cert not PEM", map[string]any{"pulse_tls": map[string]any{"cert_file": garbage, "key_file": pki.ClientKeyFile}}, "pulse_tls.cert_file"},
		{"temporal cert file missing", map[string]any{"temporal.tls": map[string]any{"cert_file": missing, "key_file": pki.ClientKeyFile}}, "temporal.tls.cert_file"},
		{"pulse key not PEM", map[string]any{"pulse_tls": map[string]any{"cert_file": pki.ClientCertFile, "key_file": garbage}}, "pulse_tls.key_file"},
		{"temporal key of another certificate", map[string]any{"temporal.tls": map[string]any{"cert_file": pki.ClientCertFile, "key_file": pki.ServerKeyFile}}, "temporal.tls.key_file"},
		{"pulse_tls with a plain amqp URL", map[string]any{"pulse_url": "amqp://bbb:pw@pulse.example.com/", "pulse_tls": map[string]any{"ca_file": pki.CAFile}}, "pulse_tls"},
		{"ca_file of the wrong type", map[string]any{"temporal.tls": map[string]any{"ca_file": 7}}, "temporal.tls.ca_file"},
		{"tls not an object", map[string]any{"temporal.tls": "yes"}, "temporal.tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := map[string]any{}
			for k, v := range amqps {
				changes[k] = v
			}
			for k, v := range tt.changes {
				changes[k] = v
			}
			_, _, err := parse(t, baseConfig(), noEnv, changes)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: "+tt.want) {
				t.Errorf("error %q does not start by naming %s", msg, tt.want)
			}
			if strings.Contains(msg, keyBytes) || strings.Count(msg, "config:") != 1 {
				t.Errorf("error %q: want one error, no file contents", msg)
			}
		})
	}
}
