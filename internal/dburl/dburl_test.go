package dburl_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
)

func TestParseMySQL(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		user, pass string
		net, addr  string
		host       string
		port       int
		db         string
		charset    string
		ignored    []string
	}{
		{name: "original sample", raw: "mysql://foo:bar@blah/crap",
			user: "foo", pass: "bar", net: "tcp", addr: "blah:3306", host: "blah", port: 3306, db: "crap", charset: "utf8mb4"},
		{name: "explicit port", raw: "mysql://buildbot:pw@db.example.com:3307/buildbot_schedulers",
			user: "buildbot", pass: "pw", net: "tcp", addr: "db.example.com:3307", host: "db.example.com", port: 3307, db: "buildbot_schedulers", charset: "utf8mb4"},
		{name: "pymysql driver", raw: "mysql+pymysql://u:p@10.0.0.5/sched",
			user: "u", pass: "p", net: "tcp", addr: "10.0.0.5:3306", host: "10.0.0.5", port: 3306, db: "sched", charset: "utf8mb4"},
		{name: "mysqldb driver and charset", raw: "mysql+mysqldb://u:p@host/sched?charset=utf8",
			user: "u", pass: "p", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "sched", charset: "utf8"},
		{name: "percent-encoded user and password", raw: "mysql://us%40er:p%40ss%2Fw%3Ard%25@host/db",
			user: "us@er", pass: "p@ss/w:rd%", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "utf8mb4"},
		{name: "raw slash in password as SQLAlchemy allows", raw: "mysql://u:pa/ss@host/db",
			user: "u", pass: "pa/ss", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "utf8mb4"},
		{name: "plus sign stays a plus", raw: "mysql://u:a+b@host/db",
			user: "u", pass: "a+b", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "utf8mb4"},
		{name: "no password", raw: "mysql://root@127.0.0.1:3306/x",
			user: "root", net: "tcp", addr: "127.0.0.1:3306", host: "127.0.0.1", port: 3306, db: "x", charset: "utf8mb4"},
		{name: "ipv6 host", raw: "mysql://u:p@[::1]:3308/db",
			user: "u", pass: "p", net: "tcp", addr: "[::1]:3308", host: "::1", port: 3308, db: "db", charset: "utf8mb4"},
		{name: "unix socket", raw: "mysql://u:p@/db?unix_socket=/var/run/mysqld/mysqld.sock",
			user: "u", pass: "p", net: "unix", addr: "/var/run/mysqld/mysqld.sock", db: "db", charset: "utf8mb4"},
		{name: "unknown params tolerated and listed", raw: "mysql://u:p@host/db?use_unicode=0&charset=latin1&binary_prefix=true",
			user: "u", pass: "p", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "latin1",
			ignored: []string{"binary_prefix", "use_unicode"}},
		{name: "surrounding white space", raw: "  mysql://u:p@host/db\n",
			user: "u", pass: "p", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "utf8mb4"},
		{name: "mariadb dialect", raw: "mariadb://u:p@host/db",
			user: "u", pass: "p", net: "tcp", addr: "host:3306", host: "host", port: 3306, db: "db", charset: "utf8mb4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := dburl.Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if u.Driver != "mysql" {
				t.Errorf("Driver = %q, want mysql", u.Driver)
			}
			if u.Host != tt.host || u.Port != tt.port || u.Database != tt.db || u.User != tt.user {
				t.Errorf("Host, Port, Database, User = %q, %d, %q, %q; want %q, %d, %q, %q",
					u.Host, u.Port, u.Database, u.User, tt.host, tt.port, tt.db, tt.user)
			}
			if strings.Join(u.IgnoredParams, ",") != strings.Join(tt.ignored, ",") {
				t.Errorf("IgnoredParams = %v, want %v", u.IgnoredParams, tt.ignored)
			}
			// The DSN is checked the way the driver will read it.
			cfg, err := mysql.ParseDSN(u.DSN)
			if err != nil {
				t.Fatalf("go-sql-driver rejects the DSN: %v", err)
			}
			if cfg.User != tt.user || cfg.Passwd != tt.pass || cfg.Net != tt.net || cfg.Addr != tt.addr || cfg.DBName != tt.db {
				t.Errorf("driver sees user %q pass %q net %q addr %q db %q; want %q %q %q %q %q",
					cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName, tt.user, tt.pass, tt.net, tt.addr, tt.db)
			}
			if cfg.ParseTime {
				t.Error("parseTime is on; Buildbot 0.8 times are integers")
			}
			if cfg.Timeout <= 0 || cfg.ReadTimeout <= 0 || cfg.WriteTimeout <= 0 {
				t.Errorf("timeouts dial %v read %v write %v: every network call needs one", cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
			}
			if !strings.Contains(u.DSN, "charset="+tt.charset+"&") && !strings.HasSuffix(u.DSN, "charset="+tt.charset) {
				t.Errorf("DSN %q lacks charset=%s", u.DSN, tt.charset)
			}
		})
	}
}

func TestParseConnectTimeout(t *testing.T) {
	u, err := dburl.Parse("mysql://u:p@host/db?connect_timeout=3")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(u.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout != 3*time.Second {
		t.Errorf("dial timeout = %v, want 3s", cfg.Timeout)
	}
}

// secret appears in every rejected URL that has a password; no error may
// contain it, nor a recognisable piece of it.
const secret = "Zq7secretPW"

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", "", "empty database URL"},
		{"blank", "   ", "empty database URL"},
		{"not a URL", "buildbot.db", "not a database URL"},
		{"one slash", "mysql:/u:" + secret + "@host/db", "not a database URL"},
		{"postgres", "postgres://u:" + secret + "@host/db", `unsupported database "postgres"`},
		{"postgresql with driver", "postgresql+psycopg2://u:" + secret + "@host/db", `unsupported database "postgresql"`},
		{"no database", "mysql://u:" + secret + "@host", "missing database name"},
		{"empty database", "mysql://u:" + secret + "@host/", "missing database name"},
		{"slash in database", "mysql://u:" + secret + "@host/a/b", "invalid database name"},
		{"no host", "mysql://u:" + secret + "@/db", "missing host"},
		{"unencoded at sign in password", "mysql://u:Zq7se@cretPW@host/db", "invalid host name"},
		{"unencoded at and colon in password", "mysql://u:Zq7se@cret:PW@host/db", "invalid port"},
		{"port out of range", "mysql://u:" + secret + "@host:99999/db", "invalid port"},
		{"port not a number", "mysql://u:" + secret + "@host:abc/db", "invalid port"},
		{"bad percent-encoding", "mysql://u:Zq7se%zzcretPW@host/db", "invalid percent-encoding in the password"},
		{"password without user", "mysql://:" + secret + "@host/db", "a password needs a user name"},
		{"colon in user", "mysql://a%3Ab:" + secret + "@host/db", "must not contain ':'"},
		{"tls option", "mysql://u:" + secret + "@host/db?ssl_ca=/etc/ca.pem", "TLS options are not supported"},
		{"password in query", "mysql://u@host/db?passwd=" + secret, "not in the query string"},
		{"bad charset", "mysql://u:" + secret + "@host/db?charset=utf8%27", "invalid charset"},
		{"bad connect_timeout", "mysql://u:" + secret + "@host/db?connect_timeout=-1", "connect_timeout"},
		{"sqlite no path", "sqlite://", "in-memory SQLite is not supported"},
		{"sqlite root only", "sqlite:///", "in-memory SQLite is not supported"},
		{"sqlite memory", "sqlite:///:memory:", "in-memory SQLite is not supported"},
		{"sqlite two slashes", "sqlite://dir/file.db", "takes no user, host or port"},
		{"sqlite with password", "sqlite://u:" + secret + "@/x.db", "takes no user, host or port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := dburl.Parse(tt.raw)
			if err == nil {
				t.Fatalf("Parse accepted it: %v", u)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			for _, piece := range []string{secret, "Zq7se", "cretPW", "PW@host"} {
				if strings.Contains(msg, piece) {
					t.Errorf("error %q leaks password piece %q", msg, piece)
				}
			}
		})
	}
}

func TestParseSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		raw  string
		want string
	}{
		{"sqlite:///scheduler.db", dir + "/scheduler.db"},
		{"sqlite:///relative/dir/scheduler.db", dir + "/relative/dir/scheduler.db"},
		{"sqlite:////var/lib/buildbot/state.sqlite", "/var/lib/buildbot/state.sqlite"},
		{"sqlite:////var/lib/buildbot/state.sqlite?timeout=20", "/var/lib/buildbot/state.sqlite"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := dburl.Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if u.Driver != "sqlite" || u.DSN != tt.want || u.Database != tt.want {
				t.Errorf("Driver %q DSN %q Database %q; want sqlite, %q", u.Driver, u.DSN, u.Database, tt.want)
			}
			if u.Host != "" || u.User != "" || u.Port != 0 {
				t.Errorf("SQLite URL has Host %q User %q Port %d", u.Host, u.User, u.Port)
			}
			if u.Redacted() != tt.raw {
				t.Errorf("Redacted = %q, want the URL unchanged", u.Redacted())
			}
		})
	}
	u, err := dburl.Parse("sqlite:////x.db?timeout=20&check_same_thread=false")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.IgnoredParams, ","); got != "check_same_thread,timeout" {
		t.Errorf("IgnoredParams = %q, want check_same_thread,timeout", got)
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"mysql://buildbot:" + secret + "@db.example.com/sched", "mysql://buildbot:xxxxx@db.example.com/sched"},
		{"mysql+mysqldb://buildbot:Zq7%40secretPW@db:3307/sched?charset=utf8", "mysql+mysqldb://buildbot:xxxxx@db:3307/sched?charset=utf8"},
		{"mysql://root@127.0.0.1/sched", "mysql://root@127.0.0.1/sched"},
		{"mysql://u:@h/db", "mysql://u:xxxxx@h/db"},
	}
	for _, tt := range tests {
		u, err := dburl.Parse(tt.raw)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.want, err)
		}
		if got := u.Redacted(); got != tt.want {
			t.Errorf("Redacted = %q, want %q", got, tt.want)
		}
	}
}

// A URL printed, logged or JSON-encoded by mistake must not show the DSN.
func TestNoPasswordWhenPrinted(t *testing.T) {
	u, err := dburl.Parse("mysql://buildbot:" + secret + "@db.example.com/sched")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("db", "url", u)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("db", "url", u, "ptr", &u)
	js, err := json.Marshal(map[string]any{"u": u})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", u), "%+v": fmt.Sprintf("%+v", u), "%#v": fmt.Sprintf("%#v", u),
		"ptr": fmt.Sprint(&u), "slog": logs.String(), "json": string(js),
	}
	for how, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s output leaks the password: %s", how, out)
		}
		if !strings.Contains(out, "db.example.com") {
			t.Errorf("%s output does not show the URL: %s", how, out)
		}
	}
}
