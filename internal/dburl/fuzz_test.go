package dburl_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
)

// FuzzParse: no URL panics Parse, and an accepted one redacts to a URL that
// parses to the same database (what an operator sees in the log names the
// server and database actually used).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"mysql://foo:bar@blah/crap", // the original's config.json.sample
		"mysql://buildbot:s3cr%40t@db.example.com:3306/scheduler?charset=utf8&use_unicode=0",
		"mysql+mysqldb://bb@[::1]:3307/sched",
		"mariadb://u:p@host/db?unix_socket=/run/mysqld/mysqld.sock",
		"mysql://u:p@h/db?connect_timeout=5",
		"mysql://u:p@h/db?ssl_ca=/x",
		"sqlite:///scheduler.db",
		"sqlite:////var/lib/buildbot/state.sqlite?timeout=30",
		"sqlite://",
		"postgresql://u:p@h/db",
		"mysql://u:p@x:p2@h/db",
		"mariadb://:@0/0", // empty user and password: its redacted form once failed to parse
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := dburl.Parse(raw)
		if err != nil {
			return
		}
		red := u.Redacted()
		if red == "" || u.DSN == "" {
			t.Fatalf("accepted %q with Redacted %q, DSN %q", raw, red, u.DSN)
		}
		if u.Driver == dburl.DriverSQLite {
			return
		}
		again, err := dburl.Parse(red)
		if err != nil {
			t.Fatalf("Redacted %q of accepted %q does not parse: %v", red, raw, err)
		}
		if again.Host != u.Host || again.Port != u.Port || again.Database != u.Database || again.User != u.User || again.Socket != u.Socket {
			t.Fatalf("Redacted %q names another database than %q: %+v vs %+v", red, raw, again, u)
		}
	})
}

// FuzzRedactedHidesPassword: whatever the user, password and host, the
// password never shows in Redacted, String, %v, %#v, JSON or a Parse
// error, neither as written nor percent-encoded.
func FuzzRedactedHidesPassword(f *testing.F) {
	f.Add("foo", "bar", "blah", "crap", "")
	f.Add("buildbot", "p@ss/w:rd?#", "db.example.com:3306", "scheduler", "charset=utf8")
	f.Add("bb", "DBPr7Kd2Wn8Zs4Fa", "[::1]", "sched", "ssl_ca=/etc/ca.pem")
	f.Add("", "orphan-password", "h", "db", "")
	f.Add("u", "pw-in-bad-port", "h:99999", "db", "")
	f.Fuzz(func(t *testing.T, user, pass, host, db, query string) {
		// A marker makes the password tell-apart from the words of an
		// error message or the rest of the URL ("assw" is in "password").
		pass = "Pw7Zq" + pass
		escaped := url.PathEscape(pass)
		raw := "mysql://" + url.PathEscape(user) + ":" + escaped + "@" + host + "/" + db
		if query != "" {
			raw += "?" + query
		}
		// The password may legitimately appear where the user wrote it
		// again outside the password part, or straddle two other parts.
		rest := strings.Replace(raw, ":"+escaped+"@", ":xxxxx@", 1) + " " + user
		// Quoting (%#v, JSON) turns bytes into escapes such as \xb0 whose
		// text can run into the next characters and spell the password.
		restJSON, _ := json.Marshal(rest)
		for _, r := range []string{rest, strconv.Quote(rest), string(restJSON)} {
			if strings.Contains(r, pass) || strings.Contains(r, escaped) {
				return
			}
		}
		u, err := dburl.Parse(raw)
		var outs []string
		if err != nil {
			outs = append(outs, err.Error())
		} else {
			js, err := json.Marshal(u)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON string
			if err := json.Unmarshal(js, &fromJSON); err != nil {
				t.Fatalf("URL encodes as %s, not a JSON string", js)
			}
			outs = append(outs, u.Redacted(), u.String(), fmt.Sprint(u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u), fromJSON)
		}
		for _, out := range outs {
			if strings.Contains(out, pass) || strings.Contains(out, escaped) {
				t.Fatalf("password %q of %q shows in %q", pass, raw, out)
			}
		}
	})
}
