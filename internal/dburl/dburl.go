// Package dburl turns the SQLAlchemy database URLs of the original bridge's
// config.json (buildbot_scheduler_db) into what database/sql needs.
//
// Accepted forms, as SQLAlchemy 1.x parsed them:
//
//	mysql://user:pass@host[:port]/db[?charset=utf8]   (also mysql+pymysql://, mysql+mysqldb://, mariadb://)
//	sqlite:///relative/path                            (relative to the current directory)
//	sqlite:////absolute/path
//
// An in-memory SQLite database (sqlite://, sqlite:///:memory:) is refused:
// the scheduler DB is shared with a Buildbot master, which cannot see a
// database private to this process.
//
// Errors never repeat the URL or any part of it that could hold the password.
package dburl

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Driver names for database/sql.
const (
	// DriverMySQL is github.com/go-sql-driver/mysql's driver name.
	DriverMySQL = "mysql"
	// DriverSQLite is modernc.org/sqlite's driver name.
	DriverSQLite = "sqlite"
)

// redactedPassword replaces the password in Redacted.
const redactedPassword = "xxxxx"

// URL is a parsed scheduler-DB URL.
//
// DSN holds the password in clear text: hand it to sql.Open and nowhere
// else. Use Redacted (also what String, GoString and LogValue return) to
// show the URL.
type URL struct {
	// Driver is DriverMySQL or DriverSQLite.
	Driver string
	// DSN is the data source name for sql.Open(Driver, DSN): a
	// go-sql-driver/mysql DSN, or the absolute path of the SQLite file.
	DSN string
	// Host is the MySQL server's host name or IP address ("" for SQLite
	// and for a MySQL unix socket).
	Host string
	// Port is the MySQL server's TCP port (3306 unless given; 0 for SQLite
	// and for a unix socket).
	Port int
	// Socket is the MySQL unix socket path (query parameter unix_socket).
	Socket string
	// User is the MySQL user name, percent-decoded ("" for SQLite).
	User string
	// Database is the MySQL database name or the absolute SQLite path.
	Database string
	// IgnoredParams lists query parameters that were accepted but have no
	// effect here (SQLAlchemy/MySQLdb options that go-sql-driver does not
	// need), sorted, so that the caller can warn about them.
	IgnoredParams []string

	redacted string
}

// sqlalchemyURL is SQLAlchemy 1.x's own pattern (sqlalchemy/engine/url.py,
// _parse_rfc1738_args). Go's leftmost-first submatch semantics pick the same
// groups as Python's re for it, so a URL splits exactly as it did for the
// original bridge (e.g. a password may contain '/' but not a raw '@').
var sqlalchemyURL = regexp.MustCompile(`^` +
	`(?P<name>[\w+]+)://` +
	`(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?` +
	`(?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?` +
	`(?:/(?P<database>[^?]*))?` +
	`(?:\?(?P<query>.*))?` +
	`$`)

// parts is the regexp's match, by group name, with presence recorded
// (SQLAlchemy distinguishes an absent group from an empty one).
type parts struct {
	raw                      string
	name                     string
	username, password       string
	hasUsername, hasPassword bool
	passwordStart, passEnd   int
	host                     string
	hasHost                  bool
	port                     string
	hasPort                  bool
	database                 string
	hasDatabase              bool
	query                    string
}

func split(raw string) (parts, bool) {
	idx := sqlalchemyURL.FindStringSubmatchIndex(raw)
	if idx == nil {
		return parts{}, false
	}
	group := func(name string) (string, int, int, bool) {
		i := sqlalchemyURL.SubexpIndex(name)
		start, end := idx[2*i], idx[2*i+1]
		if start < 0 {
			return "", -1, -1, false
		}
		return raw[start:end], start, end, true
	}
	p := parts{raw: raw}
	p.name, _, _, _ = group("name")
	p.username, _, _, p.hasUsername = group("username")
	p.password, p.passwordStart, p.passEnd, p.hasPassword = group("password")
	if h, _, _, ok := group("ipv6host"); ok {
		p.host, p.hasHost = h, true
	} else {
		p.host, _, _, p.hasHost = group("ipv4host")
	}
	p.port, _, _, p.hasPort = group("port")
	p.database, _, _, p.hasDatabase = group("database")
	p.query, _, _, _ = group("query")
	return p, true
}

// redact returns the URL as written, with the password replaced.
func (p parts) redact() string {
	// With no user name there is no password to hide (Parse refuses one),
	// and "mysql://:xxxxx@host/db" would not parse back.
	if !p.hasPassword || (p.password == "" && p.username == "") {
		return p.raw
	}
	return p.raw[:p.passwordStart] + redactedPassword + p.raw[p.passEnd:]
}

// Parse parses a SQLAlchemy database URL. Surrounding white space is
// ignored. The error names what is wrong without quoting the URL.
func Parse(raw string) (URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return URL{}, errors.New("dburl: empty database URL")
	}
	p, ok := split(raw)
	if !ok {
		return URL{}, errors.New("dburl: not a database URL (expected mysql://user:password@host[:port]/database or sqlite:///path)")
	}
	dialect, _, _ := strings.Cut(strings.ToLower(p.name), "+")
	switch dialect {
	case "mysql", "mariadb":
		return parseMySQL(p)
	case "sqlite":
		return parseSQLite(p)
	default:
		return URL{}, fmt.Errorf("dburl: unsupported database %q (the bridge supports mysql:// and sqlite:///)", dialect)
	}
}

// Redacted returns the URL as configured, with the password replaced by
// "xxxxx". It is safe to log.
func (u URL) Redacted() string {
	if u.redacted != "" {
		return u.redacted
	}
	switch u.Driver {
	case DriverSQLite:
		return "sqlite:///" + u.Database
	case DriverMySQL:
		return fmt.Sprintf("mysql://%s:%s@%s:%d/%s", url.PathEscape(u.User), redactedPassword, u.Host, u.Port, u.Database)
	}
	return ""
}

// String returns Redacted, so that printing a URL by accident cannot leak
// the password held in DSN.
func (u URL) String() string { return u.Redacted() }

// GoString returns Redacted quoted, for %#v.
func (u URL) GoString() string { return fmt.Sprintf("dburl.URL(%q)", u.Redacted()) }

// LogValue implements slog.LogValuer with Redacted.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.Redacted()) }

// MarshalJSON encodes Redacted, so that the DSN cannot reach a log line or a
// Temporal history through JSON either.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(u.Redacted()) }
