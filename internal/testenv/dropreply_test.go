package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// proxiedDBs opens a fresh database directly and through a proxy, the
// latter with extra DSN parameters.
func proxiedDBs(t *testing.T, params string) (direct, proxied *sql.DB, p *DropReplyProxy) {
	t.Helper()
	u := MariaDBURL(t)
	name := u[strings.LastIndex(u, "/")+1:]
	p = NewDropReplyProxy(t, MariaDBAddr())
	open := func(addr, params string) *sql.DB {
		db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/%s?timeout=10s&%s", addr, name, params))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	direct, proxied = open(MariaDBAddr(), ""), open(p.Addr(), params)
	if _, err := direct.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return direct, proxied, p
}

func value(t *testing.T, db *sql.DB, id int) int {
	t.Helper()
	var v int
	if err := db.QueryRow("SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
		t.Fatalf("read row %d: %v", id, err)
	}
	return v
}

func TestDropReplyProxyLosesTheReplyOfALandedWrite(t *testing.T) {
	for _, params := range []string{"interpolateParams=true", "interpolateParams=false"} {
		t.Run(params, func(t *testing.T) {
			direct, proxied, p := proxiedDBs(t, params)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := proxied.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)", 1, 1); err != nil {
				t.Fatal(err)
			}
			lost := p.Arm("UPDATE t SET v")
			if _, err := proxied.ExecContext(ctx, "UPDATE t SET v = ? WHERE id = ?", 2, 1); err == nil {
				t.Fatal("the trapped UPDATE succeeded")
			}
			select {
			case <-lost:
			default:
				t.Fatal("the channel of the sprung trap is open")
			}
			if v := value(t, direct, 1); v != 2 {
				t.Errorf("after the lost reply v = %d, want 2: the UPDATE did not land", v)
			}
			// The trap is spent: the next statement goes through.
			if _, err := proxied.ExecContext(ctx, "UPDATE t SET v = ? WHERE id = ?", 3, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDropReplyProxyLosesACommitAndGoesDown(t *testing.T) {
	direct, proxied, p := proxiedDBs(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lost := p.ArmOutage("COMMIT")
	tx, err := proxied.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)", 7, 7); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("the trapped COMMIT succeeded")
	}
	<-lost
	if v := value(t, direct, 7); v != 7 {
		t.Errorf("v = %d, want 7", v)
	}
	if err := proxied.PingContext(ctx); err == nil {
		t.Error("the proxy answered while down")
	}
	p.SetDown(false)
	if err := proxied.PingContext(ctx); err != nil {
		t.Errorf("after SetDown(false): %v", err)
	}
}
