package metrics_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
)

// gathered waits until the registry has a family whose name has prefix,
// since the SDK's handler reports once a second.
func gathered(t *testing.T, name string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams, err := metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == name {
				return f.GetType().String()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the registry", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The SDK's metrics come out under Prometheus names, with no prefix, and
// timers as histograms: what Temporal's Go SDK dashboard queries.
func TestSDKHandlerNaming(t *testing.T) {
	var logs bytes.Buffer
	h := metrics.SDKHandler(slog.New(slog.NewTextHandler(&logs, nil)))
	h.WithTags(map[string]string{"namespace": "default"}).Counter("bbbtest_things").Inc(2)
	h.Timer("bbbtest_wait").Record(250 * time.Millisecond)
	if typ := gathered(t, "bbbtest_things_total"); typ != "COUNTER" {
		t.Errorf("bbbtest_things_total is a %s", typ)
	}
	if typ := gathered(t, "bbbtest_wait_seconds"); typ != "HISTOGRAM" {
		t.Errorf("bbbtest_wait_seconds is a %s, want a histogram", typ)
	}
	// The same name with other label names cannot be registered twice:
	// logged, never a panic.
	h.WithTags(map[string]string{"other": "x"}).Counter("bbbtest_things").Inc(1)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "could not be registered") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "could not be registered") {
		t.Errorf("the conflicting registration was not logged: %q", logs.String())
	}
}

// Push series exist at zero before the first push.
func TestPushSeriesStartAtZero(t *testing.T) {
	if typ := gathered(t, "bbb_buildbot_pushes_total"); typ != "COUNTER" {
		t.Errorf("bbb_buildbot_pushes_total is a %s", typ)
	}
}
