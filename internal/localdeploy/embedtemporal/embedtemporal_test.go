package embedtemporal

import (
	"context"
	"database/sql"
	"net"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
	"github.com/bbbridge/buildbot-bridge/signals"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Persistence: SQLite, Partitions: 1}, true},
		{Config{Persistence: SQLite, Shards: 4}, false}, // temporaltest has 1
		{Config{Persistence: Postgres, Shards: 16, Partitions: 1}, true},
		{Config{Persistence: "mysql"}, false},
		{Config{Persistence: Postgres, Partitions: -1}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

// The server's default partition count is not an override: the server's
// own queues keep their defaults.
func TestPartitionsOverrideOnlyWhenNotTheDefault(t *testing.T) {
	for _, tc := range []struct {
		partitions int
		override   bool
	}{{0, false}, {ServerDefaultPartitions, false}, {1, true}, {8, true}} {
		dc := Config{Partitions: tc.partitions}.dynamicConfig("ns")
		for _, s := range []dynamicconfig.GenericSetting{dynamicconfig.MatchingNumTaskqueueReadPartitions, dynamicconfig.MatchingNumTaskqueueWritePartitions} {
			if _, got := dc[s.Key()]; got != tc.override {
				t.Errorf("partitions %d: dynamic config sets %s: %v, want %v", tc.partitions, s.Key(), got, tc.override)
			}
		}
	}
}

// The PostgreSQL-backed server: databases made with Temporal's schema
// tooling, the namespace with the bridge's search attributes, a workflow
// that upserts one on a single-partition queue, the postmaster found; and
// after Stop no database left.
func TestPostgresServerRunsAWorkflowAndDropsItsDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := DefaultPostgres()
	ts, err := StartConfig(ctx, Config{Persistence: Postgres, Shards: 2, Partitions: 1, Postgres: pg}, localdeploy.QuietLogger())
	if err != nil {
		t.Fatalf("%v (is PostgreSQL running on %s? `bash scripts/services.sh postgresql` starts it)", err, pg.Addr)
	}
	stopped := false
	defer func() {
		if !stopped {
			ts.Stop()
		}
	}()
	if !strings.Contains(ts.Describe, "PostgreSQL, 2 history shards, 1 task-queue partition") {
		t.Errorf("Describe = %q", ts.Describe)
	}

	sa, err := ts.Client.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ts.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range temporalclient.Required() {
		if got := sa.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s: %v, want %v", name, got, typ)
		}
	}

	w := worker.New(ts.Client, "embedtemporal-test", worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) {
		return "upserted", workflow.UpsertTypedSearchAttributes(ctx, signals.AttrTaskID.ValueSet("task-1"))
	}, workflow.RegisterOptions{Name: "upsert"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := ts.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "embedtemporal-test"}, "upsert")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "upserted" {
		t.Fatalf("workflow: %q, %v", got, err)
	}
	w.Stop()

	if ts.PersistencePid == 0 {
		t.Error("PostgreSQL's main process not found on this machine")
	} else if cpu, err := localdeploy.ProcessTreeCPU(ts.PersistencePid); err != nil || cpu <= 0 {
		t.Errorf("PostgreSQL's CPU: %v, %v", cpu, err)
	}

	ts.Stop()
	stopped = true
	host, port, err := net.SplitHostPort(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("postgres", "host="+host+" port="+port+" user="+pg.User+" dbname=postgres sslmode=disable connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var left int
	prefix := "bbbtemporal_" + strings.TrimPrefix(ts.Namespace, "bbb-")
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1 OR datname = $2",
		prefix, prefix+"_vis").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the server's databases (%s*) left after Stop", left, prefix)
	}
}
