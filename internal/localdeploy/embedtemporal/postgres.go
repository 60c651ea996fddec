package embedtemporal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/oneprocess"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

// DefaultShards is the history shards of a PostgreSQL-backed server when
// Config.Shards is 0; README, "Performance", says why this many.
const DefaultShards = 16

// PostgresServer is where PostgreSQL runs and whom to connect as. The
// password, if any, comes from PGPASSWORD and is never printed.
type PostgresServer struct {
	Addr string `json:"addr,omitempty"` // host:port
	User string `json:"user,omitempty"`
}

// LocalPostgres is where scripts/services.sh starts PostgreSQL.
const LocalPostgres = "127.0.0.1:5432"

// DefaultPostgres is the machine's own PostgreSQL: LocalPostgres as
// postgres (trust auth), or BBB_TEST_POSTGRES (host:port) and
// BBB_TEST_POSTGRES_USER.
func DefaultPostgres() PostgresServer {
	s := PostgresServer{Addr: LocalPostgres, User: "postgres"}
	if v := os.Getenv("BBB_TEST_POSTGRES"); v != "" {
		s.Addr = v
	}
	if v := os.Getenv("BBB_TEST_POSTGRES_USER"); v != "" {
		s.User = v
	}
	return s
}

func (c Config) shards() int {
	if c.Shards == 0 {
		return DefaultShards
	}
	return c.Shards
}

// The embedded schemas (go.temporal.io/server/schema) the databases get,
// with the versions the server checks at start.
var pgSchemas = []struct{ suffix, name, version string }{
	{"", "postgresql/v12/temporal", pgschema.Version},
	{"_vis", "postgresql/v12/visibility", pgschema.VisibilityVersion},
}

// adminDB is PostgreSQL's own database, where databases are created and
// dropped from.
const adminDB = "postgres"

// Bounds on every connection and statement of the schema tooling, whose
// calls take no context.
const (
	connectTimeoutSeconds = 10
	adminStatementTimeout = 2 * time.Minute
)

// pgServer is a running server on PostgreSQL and what Stop undoes.
type pgServer struct {
	srv     temporal.Server
	client  client.Client
	dbs     []string
	pg      PostgresServer
	log     *slog.Logger
	stopped bool
}

// startPostgres creates the server's two databases (history and
// visibility) with Temporal's schema tooling, writes the namespace with
// the bridge's search attributes, and starts the four services on loopback.
func startPostgres(ctx context.Context, cfg Config, log *slog.Logger) (localdeploy.Temporal, error) {
	pg := cfg.Postgres
	if pg.Addr == "" {
		pg = DefaultPostgres()
	}
	// Lower case: the tooling quotes the name when it creates the
	// database and not when it drops it.
	base := strings.ToLower(localdeploy.UniqueName("bbbtemporal_"))
	s := &pgServer{pg: pg, log: log}
	fail := func(err error) (localdeploy.Temporal, error) {
		s.stop()
		return localdeploy.Temporal{}, err
	}
	for _, sc := range pgSchemas {
		db := base + sc.suffix
		if err := createDatabase(pg, db); err != nil {
			return fail(err)
		}
		s.dbs = append(s.dbs, db)
		if err := setupSchema(pg, db, sc.name, sc.version); err != nil {
			return fail(err)
		}
	}
	namespace := "bbb-" + strings.TrimPrefix(base, "bbbtemporal_")
	if err := createNamespace(pg, s.dbs[0], namespace); err != nil {
		return fail(err)
	}

	addrs, err := freeport.Several("127.0.0.1", 4)
	if err != nil {
		return fail(err)
	}
	srv, err := newServer(cfg, pg, s.dbs[0], s.dbs[1], namespace, addrs)
	if err != nil {
		return fail(err)
	}
	if err := srv.Start(); err != nil {
		return fail(fmt.Errorf("embedtemporal: start Temporal on PostgreSQL: %w", err))
	}
	s.srv = srv
	frontend := addrs[0]
	if s.client, err = dialServed(ctx, frontend, namespace, log); err != nil {
		return fail(err)
	}
	pid, err := postmasterPid(ctx, pg)
	if err != nil {
		// The CPU of a PostgreSQL on another machine cannot be read; the
		// run goes on without it.
		log.Warn("embedtemporal: PostgreSQL's CPU will not be measured", "err", err)
	}
	return localdeploy.Temporal{
		HostPort:       frontend,
		Namespace:      namespace,
		Client:         s.client,
		Stop:           s.stop,
		PersistencePid: pid,
	}, nil
}

// newServer configures the four services on addrs (frontend first).
func newServer(cfg Config, pg PostgresServer, db, visDB, namespace string, addrs []string) (temporal.Server, error) {
	// Pools as Temporal's own Docker image sizes them (20 each); each
	// service opens its own, and PostgreSQL's default max_connections
	// (100) leaves room for the four services' default and visibility
	// pools only if the latter stay small.
	srv, err := oneprocess.Server(addrs, config.Persistence{
		DefaultStore:     "default",
		VisibilityStore:  "visibility",
		NumHistoryShards: int32(cfg.shards()),
		DataStores: map[string]config.DataStore{
			"default":    {SQL: sqlConfig(pg, db, 20)},
			"visibility": {SQL: sqlConfig(pg, visDB, 4)},
		},
	}, cfg.dynamicConfig(namespace),
		// As temporaltest: the server's own log is verbose and the
		// benchmark's output is a table.
		serverlog.NewNoopLogger())
	if err != nil {
		return nil, fmt.Errorf("embedtemporal: Temporal on PostgreSQL: %w", err)
	}
	return srv, nil
}

// sqlConfig is the persistence config of database db, maxConns connections
// at most, all kept open.
func sqlConfig(pg PostgresServer, db string, maxConns int) *config.SQL {
	return &config.SQL{
		PluginName:      postgresql.PluginName,
		DatabaseName:    db,
		ConnectAddr:     pg.Addr,
		ConnectProtocol: "tcp",
		User:            pg.User,
		Password:        os.Getenv("PGPASSWORD"),
		// The server's statements carry their own contexts; only the
		// connect needs a bound.
		ConnectAttributes: map[string]string{"connect_timeout": strconv.Itoa(connectTimeoutSeconds)},
		MaxConns:          maxConns,
		MaxIdleConns:      maxConns,
		MaxConnLifetime:   time.Hour,
	}
}

// adminConfig is sqlConfig for the schema tooling, whose calls take no
// context: the server bounds each of its statements instead.
func adminConfig(pg PostgresServer, db string) *config.SQL {
	c := sqlConfig(pg, db, 2)
	c.ConnectAttributes["statement_timeout"] = strconv.FormatInt(adminStatementTimeout.Milliseconds(), 10)
	return c
}

func createDatabase(pg PostgresServer, db string) error {
	if err := sqltool.DoCreateDatabase(adminConfig(pg, db), adminDB, serverlog.NewNoopLogger()); err != nil {
		return fmt.Errorf("embedtemporal: create database %s on %s: %w", db, pg.Addr, err)
	}
	return nil
}

// setupSchema applies the embedded schema name (its full schema.sql, not
// the versioned steps: the database is new) and records version, as
// `temporal-sql-tool setup-schema` does.
func setupSchema(pg PostgresServer, db, name, version string) error {
	conn, err := sqltool.NewConnection(adminConfig(pg, db), serverlog.NewNoopLogger())
	if err != nil {
		return fmt.Errorf("embedtemporal: connect to %s on %s: %w", db, pg.Addr, err)
	}
	defer conn.Close()
	task := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{SchemaName: name, InitialVersion: version}, serverlog.NewNoopLogger())
	if err := task.Run(); err != nil {
		return fmt.Errorf("embedtemporal: schema %s in %s: %w", name, db, err)
	}
	return nil
}

// createNamespace writes the namespace, with the bridge's search
// attributes, before the server starts, so that every service's namespace
// registry has it from its first load. The helpers live in schema/sqlite
// but are the server's generic SQL persistence (the plugin is the
// config's): temporaltest and the dev server pre-create their namespaces
// with them.
func createNamespace(pg PostgresServer, db, namespace string) error {
	ns, err := sqliteschema.NewNamespaceConfig(oneprocess.ClusterName, namespace, false, temporalclient.Required())
	if err != nil {
		return fmt.Errorf("embedtemporal: namespace %s: %w", namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(adminConfig(pg, db), ns); err != nil {
		return fmt.Errorf("embedtemporal: create namespace %s in %s: %w", namespace, db, err)
	}
	return nil
}

// dialServed connects a client and waits until the frontend serves the
// namespace.
func dialServed(ctx context.Context, frontend, namespace string, log *slog.Logger) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var c client.Client
	var err error
	for {
		if c == nil {
			c, err = client.DialContext(ctx, client.Options{
				HostPort:  frontend,
				Namespace: namespace,
				Logger:    sdklog.NewStructuredLogger(log),
			})
		}
		if c != nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			if err == nil {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("embedtemporal: Temporal on PostgreSQL not serving namespace %s at %s: %w", namespace, frontend, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// postmasterPid is the PostgreSQL server's main process on this machine:
// the parent of the backend serving a connection. The server's CPU is its
// and its children's (backends, WAL writer, checkpointer).
func postmasterPid(ctx context.Context, pg PostgresServer) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	host, port, err := net.SplitHostPort(pg.Addr)
	if err != nil {
		return 0, err
	}
	// "postgres" is lib/pq's driver, registered by the server's plugin.
	// key=value form: a password, if any, stays out of the string.
	db, err := sql.Open("postgres", fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=%d",
		host, port, pg.User, adminDB, connectTimeoutSeconds))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var backend int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0, fmt.Errorf("PostgreSQL at %s: %w", pg.Addr, err)
	}
	ppid, err := localdeploy.ParentPid(backend)
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL's backend %d is not a process here: %w", backend, err)
	}
	return ppid, nil
}

// stop stops the server and drops its databases; calling it again does
// nothing.
func (s *pgServer) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if s.client != nil {
		s.client.Close()
	}
	if s.srv != nil {
		if err := s.srv.Stop(); err != nil {
			s.log.Warn("embedtemporal: Temporal stopped with an error", "err", err)
		}
	}
	for _, db := range s.dbs {
		if err := sqltool.DoDropDatabase(adminConfig(s.pg, db), adminDB, serverlog.NewNoopLogger()); err != nil {
			s.log.Warn("embedtemporal: drop database", "db", db, "err", err)
		}
	}
}
