// Package embedtemporal is the Temporal server a local deployment embeds:
// by default temporaltest's (in-memory SQLite persistence, its own log off),
// or, for the benchmark, the same server on the machine's PostgreSQL
// (Config). A fresh one per deployment, since the bridge's sweep workflow
// has one ID per namespace. It is apart from localdeploy because it links
// the server (~200 MB of binary, minutes to link): only the commands and
// tests that run one import it.
package embedtemporal

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// Persistence backends of Config.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ServerDefaultPartitions is the server's own number of task-queue
// partitions (matching.numTaskqueue{Read,Write}Partitions).
const ServerDefaultPartitions = 4

// Config says which server Start starts.
type Config struct {
	// Persistence is SQLite (the default: temporaltest's, in memory) or
	// Postgres (databases created for the server and dropped at Stop).
	Persistence string `json:"persistence,omitempty"`
	// Shards is the number of history shards; PostgreSQL only
	// (temporaltest fixes SQLite's at 1). 0 is DefaultShards.
	Shards int `json:"shards,omitempty"`
	// Partitions is the task-queue partitions of the bridge's namespace,
	// set through the server's dynamic config; 0 keeps the server's
	// default (ServerDefaultPartitions).
	Partitions int `json:"partitions,omitempty"`
	// Postgres is the PostgreSQL server (default: DefaultPostgres).
	Postgres PostgresServer `json:"postgres,omitzero"`
}

// Describe names the server for a table's header.
func (c Config) Describe() string {
	parts := fmt.Sprintf("%d task-queue partition%s", c.partitions(), plural(c.partitions()))
	if !c.overridesPartitions() {
		parts += " (server default)"
	}
	if c.Persistence == Postgres {
		return fmt.Sprintf("Temporal on PostgreSQL, %d history shards, %s", c.shards(), parts)
	}
	return "Temporal on SQLite in memory, 1 history shard, " + parts
}

// Validate rejects what Start could not honour.
func (c Config) Validate() error {
	switch c.Persistence {
	case "", SQLite:
		if c.Shards > 1 {
			return fmt.Errorf("embedtemporal: %d history shards need -temporal %s (temporaltest's SQLite has 1)", c.Shards, Postgres)
		}
	case Postgres:
	default:
		return fmt.Errorf("embedtemporal: persistence %q is neither %s nor %s", c.Persistence, SQLite, Postgres)
	}
	if c.Shards < 0 || c.Partitions < 0 {
		return fmt.Errorf("embedtemporal: shards (%d) and partitions (%d) cannot be negative", c.Shards, c.Partitions)
	}
	return nil
}

func (c Config) partitions() int {
	if c.Partitions == 0 {
		return ServerDefaultPartitions
	}
	return c.Partitions
}

func (c Config) overridesPartitions() bool { return c.partitions() != ServerDefaultPartitions }

// dynamicConfig is the server's dynamic config; a partition count applies
// to namespace only, or to every namespace when it is "".
func (c Config) dynamicConfig(namespace string) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// The worker registers the bridge's search attributes at start
		// and upserts them at once: a cache refreshed only every few
		// seconds would refuse the first upserts.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	if c.overridesPartitions() {
		// With the namespace named, the server's own per-namespace worker
		// queues keep the one partition their defaults give them.
		v := []dynamicconfig.ConstrainedValue{{
			Constraints: dynamicconfig.Constraints{Namespace: namespace},
			Value:       c.Partitions,
		}}
		dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()] = v
		dc[dynamicconfig.MatchingNumTaskqueueWritePartitions.Key()] = v
	}
	return dc
}

// Start starts a server in this process; log receives its clients' lines.
func Start(log *slog.Logger) localdeploy.Temporal {
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(log),
	}))
	return fromTestServer(ts, ts.Stop)
}

// StartConfig starts the server cfg describes in this process.
func StartConfig(ctx context.Context, cfg Config, log *slog.Logger) (localdeploy.Temporal, error) {
	if err := cfg.Validate(); err != nil {
		return localdeploy.Temporal{}, err
	}
	var t localdeploy.Temporal
	var err error
	if cfg.Persistence == Postgres {
		t, err = startPostgres(ctx, cfg, log)
	} else {
		t, err = startSQLite(cfg, log), nil
	}
	t.Describe = cfg.Describe()
	return t, err
}

// startSQLite is Start with cfg's partitions.
func startSQLite(cfg Config, log *slog.Logger) localdeploy.Temporal {
	opts := []temporaltest.TestServerOption{temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(log),
	})}
	if cfg.overridesPartitions() {
		// temporaltest names its namespace at random when it makes the
		// server, after this config is given: the setting cannot name it,
		// so the server's own worker queues get the partitions too (they
		// carry next to nothing in a benchmark). Replaces temporaltest's
		// own dynamic config, which dynamicConfig repeats.
		opts = append(opts, temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(cfg.dynamicConfig(""))))
	}
	ts := temporaltest.NewServer(opts...)
	return fromTestServer(ts, ts.Stop)
}

// Starter is Start for localdeploy.Options.Temporal.
func Starter(log *slog.Logger) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) { return Start(log), nil }
}

// ConfigStarter is StartConfig for localdeploy.Options.Temporal.
func ConfigStarter(ctx context.Context, cfg Config, log *slog.Logger) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) { return StartConfig(ctx, cfg, log) }
}

// ForTest is Starter for a test: the server fails the test if it cannot
// start and stops when the test ends.
func ForTest(t *testing.T) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) {
		ts := temporaltest.NewServer(temporaltest.WithT(t))
		// WithT stops it at the test's cleanup; a second Stop would fail
		// the test.
		return fromTestServer(ts, func() {}), nil
	}
}

func fromTestServer(ts *temporaltest.TestServer, stop func()) localdeploy.Temporal {
	return localdeploy.Temporal{
		HostPort:  ts.GetFrontendHostPort(),
		Namespace: ts.GetDefaultNamespace(),
		Client:    ts.GetDefaultClient(),
		Stop:      stop,
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
