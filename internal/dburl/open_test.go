package dburl_test

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func open(t *testing.T, raw string) (*sql.DB, dburl.URL) {
	t.Helper()
	u, err := dburl.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	db, err := sql.Open(u.Driver, u.DSN)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, u
}

func TestOpenMariaDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, u := open(t, testenv.MariaDBURL(t))
	var name, charset string
	if err := db.QueryRowContext(ctx, "SELECT DATABASE(), @@character_set_client").Scan(&name, &charset); err != nil {
		t.Fatalf("query: %v", err)
	}
	if name != u.Database {
		t.Errorf("connected to database %q, want %q", name, u.Database)
	}
	if charset != "utf8mb4" {
		t.Errorf("connection charset %q, want utf8mb4", charset)
	}
}

// A real account whose password has every character that needs
// percent-encoding in a URL logs in through the parsed DSN.
func TestOpenMariaDBWithEncodedPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rootURL := testenv.MariaDBURL(t)
	root, rootU := open(t, rootURL)

	user := testenv.UniqueName("bbbu_")
	password := "p@ss/w:rd%?#&+ ;'\"x"
	// CREATE USER takes no placeholders; the hash is hex, so it can be
	// written into the statement without quoting the password itself.
	if _, err := root.ExecContext(ctx, "CREATE USER '"+user+"'@'%' IDENTIFIED BY PASSWORD '"+nativePasswordHash(password)+"'"); err != nil {
		t.Fatalf("create user: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := root.ExecContext(ctx, "DROP USER IF EXISTS '"+user+"'@'%'"); err != nil {
			t.Logf("drop user: %v", err)
		}
	})
	// Names are hex from testenv; identifiers cannot be bound as parameters.
	if _, err := root.ExecContext(ctx, "GRANT ALL ON `"+rootU.Database+"`.* TO '"+user+"'@'%'"); err != nil {
		t.Fatalf("grant: %v", err)
	}

	encoded := pctEncode(password)
	db, u := open(t, strings.Replace(rootURL, "mysql://root@", "mysql://"+user+":"+encoded+"@", 1))
	if strings.Contains(u.Redacted(), encoded) {
		t.Errorf("Redacted %q shows the password", u.Redacted())
	}
	var who string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&who); err != nil {
		t.Fatalf("login with the decoded password failed: %v", err)
	}
	if !strings.HasPrefix(who, user+"@") {
		t.Errorf("logged in as %q, want %s", who, user)
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, u := open(t, testenv.SQLiteURL(t))
	if _, err := db.ExecContext(ctx, "CREATE TABLE buildrequests (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := os.Stat(u.Database); err != nil {
		t.Errorf("the database file is not where the URL says: %v", err)
	}
}

// sqlite:///relative resolves against the working directory at Parse time,
// so a later chdir cannot move the scheduler DB.
func TestOpenSQLiteRelative(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("state", 0o755); err != nil {
		t.Fatal(err)
	}
	db, _ := open(t, "sqlite:///state/scheduler.db")
	t.Chdir(t.TempDir())
	if _, err := db.ExecContext(ctx, "CREATE TABLE buildsets (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "scheduler.db")); err != nil {
		t.Errorf("the database file is not under the original working directory: %v", err)
	}
}

// pctEncode encodes every byte outside RFC 3986's unreserved set, as a
// careful operator would write a password into a URL.
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// nativePasswordHash is MySQL's mysql_native_password hash of password, the
// form IDENTIFIED BY PASSWORD takes.
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}
