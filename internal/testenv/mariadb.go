// Package testenv gives each test its own piece of the real services that run
// on the machine (a MariaDB database, a RabbitMQ vhost, a SQLite file), so
// tests run in parallel and leave nothing behind.
//
// The services' addresses can be moved with BBB_TEST_MYSQL (host:port, user
// root, no password) and BBB_TEST_RABBIT (host:port of AMQP) and
// BBB_TEST_RABBIT_API (base URL of the management API).
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver the tests' databases are made with
)

func mysqlHostPort() string {
	if v := os.Getenv("BBB_TEST_MYSQL"); v != "" {
		return v
	}
	return "127.0.0.1:3306"
}

// UniqueName returns prefix followed by a random suffix that is safe in SQL
// identifiers, vhost names and queue names.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// MariaDBURL creates an empty database on the real MariaDB server and returns
// it as the SQLAlchemy-style URL the bridge's config takes
// (mysql://root@host:port/name). The database is dropped when the test ends.
func MariaDBURL(t testing.TB) string {
	t.Helper()
	name := UniqueName("bbbtest_")
	admin := adminDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is ours and hex-only, so quoting it with backticks is safe;
	// identifiers cannot be bound as parameters.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("testenv: create MariaDB database: %v (is MariaDB running on %s? .ci/run starts it)", err, mysqlHostPort())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
		admin.Close()
	})
	return fmt.Sprintf("mysql://root@%s/%s", mysqlHostPort(), name)
}

func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/?timeout=10s", mysqlHostPort()))
	if err != nil {
		t.Fatalf("testenv: open MariaDB: %v", err)
	}
	db.SetMaxOpenConns(2)
	return db
}

// SQLiteURL returns a SQLAlchemy-style URL (sqlite:////abs/path) of a SQLite
// file in the test's temporary directory; the file does not exist yet.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scheduler.db")
	// p is absolute, so this yields SQLAlchemy's four-slash form.
	return "sqlite:///" + p
}
