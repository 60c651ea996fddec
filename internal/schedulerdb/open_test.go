package schedulerdb_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	const password = "s3cr3t-Pa55"
	good := testenv.MariaDBURL(t) // mysql://root@host:port/name
	host := strings.TrimPrefix(good, "mysql://root@")
	for name, url := range map[string]string{
		"wrong password":     "mysql://root:" + password + "@" + host,
		"unknown user":       "mysql://nosuchuser:" + password + "@" + host,
		"nothing listening":  "mysql://root:" + password + "@127.0.0.1:1/buildbot",
		"malformed url":      "mysql://root:" + password + "@bad host/buildbot",
		"unsupported scheme": "postgresql://root:" + password + "@127.0.0.1/buildbot",
	} {
		t.Run(name, func(t *testing.T) {
			db, err := schedulerdb.Open(testCtx(t), url, schedulerdb.WithPingTimeout(10*time.Second))
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestOpenMariaDB(t *testing.T) {
	db := openDB(t, testenv.MariaDBURL(t))
	if db.Driver() != "mysql" {
		t.Errorf("Driver() = %q", db.Driver())
	}
	if !strings.HasPrefix(db.Redacted(), "mysql://root@") {
		t.Errorf("Redacted() = %q", db.Redacted())
	}
}

// SQLite is set up for several writers: WAL, and a busy timeout instead of
// an immediate SQLITE_BUSY, on every connection of the pool.
func TestOpenSQLiteForSharedUse(t *testing.T) {
	db := openDB(t, testenv.SQLiteURL(t))
	if db.Driver() != "sqlite" {
		t.Errorf("Driver() = %q", db.Driver())
	}
	ctx := testCtx(t)
	conns := make([]interface{ Close() error }, 0, 3)
	for i := range 3 {
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		var mode string
		var busy int
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || busy < 5000 {
			t.Errorf("connection %d: journal_mode %q, busy_timeout %d ms", i, mode, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestOpenSQLitePathWithURLCharacters(t *testing.T) {
	// SQLAlchemy URLs cannot carry '?' in a path; these they can.
	dir := t.TempDir() + "/odd dir #%20"
	url := "sqlite:///" + dir + "/scheduler.db"
	// The directory must exist; SQLite creates only the file.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, url)
	if err := db.CreateBuildbotSchema(testCtx(t)); err != nil {
		t.Fatalf("CreateBuildbotSchema in %q: %v", dir, err)
	}
	if _, err := os.Stat(dir + "/scheduler.db"); err != nil {
		t.Errorf("the database is not where the URL says: %v", err)
	}
}
