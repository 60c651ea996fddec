package bench

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The proxy's statement count must agree with MariaDB's own per-session
// Questions counter, which counts text queries and prepared-statement
// executions but not prepares.
func TestStatementCounterAgreesWithMariaDBQuestions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testenv.MariaDBURL(t) // mysql://root@host:port/name
	hostDB := strings.TrimPrefix(url, "mysql://root@")
	host, name, _ := strings.Cut(hostDB, "/")

	c, err := NewStatementCounter(host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db, err := sql.Open("mysql", "root@tcp("+c.Addr()+")/"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	questions := func() int64 {
		var k string
		var v int64
		if err := conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Questions'").Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	serverBefore := questions()
	before := c.Counts()

	// 1 text query; 1 prepared execution; a transaction of START
	// TRANSACTION, 1 prepared execution and COMMIT: 5 statements, of
	// which 2 were prepared first.
	if _, err := conn.ExecContext(ctx, "CREATE TABLE t (id INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (?)", 1); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (?)", 2); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	after := c.Counts()
	serverDelta := questions() - serverBefore - 1 // the second SHOW counts itself
	got := SQLCounts{Statements: after.Statements - before.Statements, RoundTrips: after.RoundTrips - before.RoundTrips}
	if got.Statements != serverDelta {
		t.Errorf("proxy counted %d statements, MariaDB's Questions rose by %d", got.Statements, serverDelta)
	}
	if want := (SQLCounts{Statements: 5, RoundTrips: 7}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("rows written through the proxy = %d (%v), want 2", n, err)
	}
}
