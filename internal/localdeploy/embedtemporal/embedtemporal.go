// Package embedtemporal is the Temporal server a local deployment embeds:
// temporaltest's (in-memory SQLite persistence, its own log off), a fresh
// one per deployment, since the bridge's sweep workflow has one ID per
// namespace. It is apart from localdeploy because it links the server
// (~200 MB of binary, minutes to link): only the commands and tests that
// run one import it.
package embedtemporal

import (
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// Start starts a server in this process; log receives its clients' lines.
func Start(log *slog.Logger) localdeploy.Temporal {
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(log),
	}))
	return temporal(ts, ts.Stop)
}

// Starter is Start for localdeploy.Options.Temporal.
func Starter(log *slog.Logger) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) { return Start(log), nil }
}

// ForTest is Starter for a test: the server fails the test if it cannot
// start and stops when the test ends.
func ForTest(t *testing.T) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) {
		ts := temporaltest.NewServer(temporaltest.WithT(t))
		// WithT stops it at the test's cleanup; a second Stop would fail
		// the test.
		return temporal(ts, func() {}), nil
	}
}

func temporal(ts *temporaltest.TestServer, stop func()) localdeploy.Temporal {
	return localdeploy.Temporal{
		HostPort:  ts.GetFrontendHostPort(),
		Namespace: ts.GetDefaultNamespace(),
		Client:    ts.GetDefaultClient(),
		Stop:      stop,
	}
}
