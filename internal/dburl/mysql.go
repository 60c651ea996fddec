package dburl

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Network timeouts written into every MySQL DSN. Without them a dead
// server or a half-open connection blocks an activity until Temporal's
// own timeout fires, with no useful error; the bridge's queries are small
// primary-key lookups and inserts, so these bounds are generous.
const (
	mysqlDialTimeout  = 10 * time.Second
	mysqlReadTimeout  = 30 * time.Second
	mysqlWriteTimeout = 30 * time.Second
)

const (
	defaultMySQLPort = 3306
	// defaultCharset keeps 4-byte UTF-8 (emoji in a commit message property)
	// intact on servers that have it; a URL's own charset= wins, as it did
	// with MySQLdb.
	defaultCharset = "utf8mb4"
)

var (
	hostName    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	ipv6Literal = regexp.MustCompile(`^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$`)
	charsetName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

func parseMySQL(p parts) (URL, error) {
	u := URL{Driver: DriverMySQL, redacted: p.redact()}
	cfg := mysql.NewConfig()

	if p.hasUsername {
		user, err := url.PathUnescape(p.username)
		if err != nil {
			return URL{}, errors.New("dburl: invalid percent-encoding in the user name")
		}
		// go-sql-driver's DSN splits user from password at the first ':'.
		if strings.Contains(user, ":") {
			return URL{}, errors.New("dburl: a MySQL user name must not contain ':'")
		}
		u.User, cfg.User = user, user
	}
	if p.hasPassword {
		pass, err := url.PathUnescape(p.password)
		if err != nil {
			return URL{}, errors.New("dburl: invalid percent-encoding in the password")
		}
		if pass != "" && u.User == "" {
			return URL{}, errors.New("dburl: a password needs a user name")
		}
		cfg.Passwd = pass
	}

	// Host and port are never quoted in errors: with an unencoded '@' in the
	// password they hold the rest of it.
	const encodeHint = " (a password containing '@' must be percent-encoded as %40)"
	if p.hasHost && p.host != "" {
		if !hostName.MatchString(p.host) && !ipv6Literal.MatchString(p.host) {
			return URL{}, errors.New("dburl: invalid host name" + encodeHint)
		}
		u.Host = p.host
	}
	u.Port = defaultMySQLPort
	if p.hasPort {
		port, err := strconv.Atoi(p.port)
		if err != nil || port < 1 || port > 65535 {
			return URL{}, errors.New("dburl: invalid port" + encodeHint)
		}
		u.Port = port
	}

	if !p.hasDatabase || p.database == "" {
		return URL{}, errors.New("dburl: missing database name (mysql://user:password@host[:port]/database)")
	}
	if strings.ContainsAny(p.database, "/\\") {
		return URL{}, errors.New("dburl: invalid database name")
	}
	u.Database = p.database
	cfg.DBName = p.database

	charset := defaultCharset
	if p.query != "" {
		q, err := url.ParseQuery(p.query)
		if err != nil {
			return URL{}, errors.New("dburl: malformed query string")
		}
		for key, values := range q {
			value := values[len(values)-1]
			switch {
			case key == "charset":
				if !charsetName.MatchString(value) {
					return URL{}, errors.New("dburl: invalid charset parameter")
				}
				charset = value
			case key == "unix_socket":
				if value == "" {
					return URL{}, errors.New("dburl: empty unix_socket parameter")
				}
				u.Socket = value
			case key == "connect_timeout":
				secs, err := strconv.Atoi(value)
				if err != nil || secs < 1 {
					return URL{}, errors.New("dburl: connect_timeout must be a positive number of seconds")
				}
				cfg.Timeout = time.Duration(secs) * time.Second
			case key == "password" || key == "passwd":
				return URL{}, errors.New("dburl: put the password in the URL's user part (user:password@host), not in the query string")
			case strings.HasPrefix(key, "ssl"):
				// Dropping TLS settings silently would downgrade the
				// connection; refuse until TLS is supported.
				return URL{}, fmt.Errorf("dburl: query parameter %q: TLS options are not supported", key)
			default:
				u.IgnoredParams = append(u.IgnoredParams, key)
			}
		}
		slices.Sort(u.IgnoredParams)
	}

	switch {
	case u.Socket != "":
		cfg.Net, cfg.Addr = "unix", u.Socket
		u.Host, u.Port = "", 0
	case u.Host == "":
		return URL{}, errors.New("dburl: missing host (mysql://user:password@host[:port]/database)")
	default:
		cfg.Net = "tcp"
		cfg.Addr = joinHostPort(u.Host, u.Port)
	}

	if cfg.Timeout == 0 {
		cfg.Timeout = mysqlDialTimeout
	}
	cfg.ReadTimeout = mysqlReadTimeout
	cfg.WriteTimeout = mysqlWriteTimeout
	// Buildbot 0.8 stores times as integer epoch seconds; nothing to parse.
	cfg.ParseTime = false
	if err := cfg.Apply(mysql.Charset(charset, "")); err != nil {
		return URL{}, errors.New("dburl: invalid charset parameter")
	}
	u.DSN = cfg.FormatDSN()
	return u, nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}
