// Package schedulerdb is the bridge's access to a Buildbot 0.8 scheduler
// database (MySQL in production, SQLite as Buildbot's own default): it
// injects BuildRequests for Taskcluster tasks and reads back what the
// masters did with them.
//
// Buildbot's tables are never altered. The bridge's only DDL is its own
// small table, bbb_tasks (task_id → buildrequest_id, run_id), written in the
// same transaction as each BuildRequest; it makes injection idempotent and
// tells "ours" apart cheaply, because Buildbot has no index on
// buildsets.external_idstring.
//
// Every query is parameterised and bounded by the caller's context, or by a
// default timeout when the context has no deadline.
package schedulerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
)

// Driver names returned by (*DB).Driver.
const (
	DriverMySQL  = dburl.DriverMySQL
	DriverSQLite = dburl.DriverSQLite
)

// ErrNotFound is returned for a BuildRequest id that is not in the database.
var ErrNotFound = errors.New("schedulerdb: not found")

// DB is a connection pool to one scheduler database. It is safe for
// concurrent use.
type DB struct {
	db       *sql.DB
	driver   string
	redacted string
	dialect  dialect
	timeout  time.Duration
}

// Option tunes Open.
type Option func(*options)

type options struct {
	maxOpen      int
	maxIdle      int
	connLifetime time.Duration
	connIdleTime time.Duration
	queryTimeout time.Duration
	pingTimeout  time.Duration
}

// WithMaxOpenConns caps the connections to the database (default 10 for
// MySQL, 4 for SQLite).
func WithMaxOpenConns(n int) Option { return func(o *options) { o.maxOpen = n } }

// WithMaxIdleConns sets how many idle connections are kept (default: half
// of the open limit for MySQL, all of them for SQLite).
func WithMaxIdleConns(n int) Option { return func(o *options) { o.maxIdle = n } }

// WithConnMaxLifetime recycles connections older than d (default 5 minutes
// for MySQL, so that a server's wait_timeout or a failover never hands the
// pool a dead connection; unlimited for SQLite).
func WithConnMaxLifetime(d time.Duration) Option { return func(o *options) { o.connLifetime = d } }

// WithQueryTimeout bounds each operation whose context carries no deadline
// (default 30 s).
func WithQueryTimeout(d time.Duration) Option { return func(o *options) { o.queryTimeout = d } }

// WithPingTimeout bounds the connection check done by Open (default 15 s).
func WithPingTimeout(d time.Duration) Option { return func(o *options) { o.pingTimeout = d } }

// sqlitePragmas make several goroutines and processes share one file:
// a writer waits up to 10 s for the lock instead of failing with
// SQLITE_BUSY, WAL lets readers (the Buildbot master's polls) run beside a
// writer, and _txlock=immediate takes the write lock at BEGIN, so a
// transaction that read first cannot fail on upgrading its lock later
// (SQLITE_BUSY_SNAPSHOT is not retried by the busy handler).
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"

// Open connects to the scheduler database named by a SQLAlchemy URL (the
// original bridge's buildbot_scheduler_db: mysql://user:pass@host/db or
// sqlite:////abs/path) and checks that it answers. Errors name the database
// by its redacted URL and never contain the password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	u, err := dburl.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("schedulerdb: %w", err)
	}
	return OpenURL(ctx, u, opts...)
}

// OpenURL is Open for a URL already parsed (the config keeps
// buildbot_scheduler_db parsed).
func OpenURL(ctx context.Context, u dburl.URL, opts ...Option) (*DB, error) {
	var err error
	o := options{queryTimeout: 30 * time.Second, pingTimeout: 15 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}

	var (
		db     *sql.DB
		secret string
	)
	switch u.Driver {
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(u.DSN)
		if err != nil {
			// The DSN holds the password; its parse error is not repeated.
			return nil, fmt.Errorf("schedulerdb: %s: invalid MySQL settings", u.Redacted())
		}
		secret = cfg.Passwd
		// A master demoted to a read-only replica by a failover must not
		// keep the pool: the driver drops the connection and reconnects.
		cfg.RejectReadOnly = true
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("schedulerdb: %s: %w", u.Redacted(), redact(err, secret))
		}
		db = sql.OpenDB(conn)
		setDefault(&o.maxOpen, 10)
		setDefault(&o.maxIdle, max(o.maxOpen/2, 1))
		if o.connLifetime == 0 {
			o.connLifetime = 5 * time.Minute
		}
		if o.connIdleTime == 0 {
			o.connIdleTime = time.Minute
		}
	case DriverSQLite:
		db, err = sql.Open(DriverSQLite, sqliteDSN(u.DSN))
		if err != nil {
			return nil, fmt.Errorf("schedulerdb: %s: %w", u.Redacted(), err)
		}
		// One writer at a time is all SQLite allows; a few connections let
		// reads proceed beside it without piling up waiters on the lock.
		setDefault(&o.maxOpen, 4)
		setDefault(&o.maxIdle, o.maxOpen)
	default:
		return nil, fmt.Errorf("schedulerdb: %s: unsupported driver %q", u.Redacted(), u.Driver)
	}
	db.SetMaxOpenConns(o.maxOpen)
	db.SetMaxIdleConns(o.maxIdle)
	db.SetConnMaxLifetime(o.connLifetime)
	db.SetConnMaxIdleTime(o.connIdleTime)

	pctx, cancel := context.WithTimeout(ctx, o.pingTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("schedulerdb: connect to %s: %w", u.Redacted(), redact(err, secret))
	}
	return &DB{
		db:       db,
		driver:   u.Driver,
		redacted: u.Redacted(),
		dialect:  dialectFor(u.Driver),
		timeout:  o.queryTimeout,
	}, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// sqliteDSN turns an absolute path into a file: URI, so that a '?' or '#'
// in a directory name cannot be mistaken for the start of the parameters.
func sqliteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + sqlitePragmas
}

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// Driver returns "mysql" or "sqlite".
func (d *DB) Driver() string { return d.driver }

// SQL returns the underlying pool, for the Buildbot simulator and
// benchmarks, which play the masters' part on the same tables.
func (d *DB) SQL() *sql.DB { return d.db }

// Redacted returns the database URL with the password replaced, for logs.
func (d *DB) Redacted() string { return d.redacted }

// opContext applies the default timeout when the caller set no deadline, so
// that a dead server cannot hang an activity until Temporal gives up on it.
func (d *DB) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d.timeout)
}

// redactedError hides a secret that a driver might have echoed back.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}

func (e *redactedError) Unwrap() error { return e.err }

func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &redactedError{err: err, secret: secret}
}
