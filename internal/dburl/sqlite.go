package dburl

import (
	"errors"
	"net/url"
	"path/filepath"
	"slices"
)

const sqliteForms = "sqlite:///relative/path or sqlite:////absolute/path"

func parseSQLite(p parts) (URL, error) {
	// SQLAlchemy's sqlite dialect silently ignores a host, which turns the
	// two-slash typo sqlite://dir/file.db into the wrong file; refuse it.
	if p.hasUsername || p.hasPassword || p.host != "" || p.hasPort {
		return URL{}, errors.New("dburl: a sqlite URL takes no user, host or port: use " + sqliteForms)
	}
	if !p.hasDatabase || p.database == "" || p.database == ":memory:" {
		return URL{}, errors.New("dburl: in-memory SQLite is not supported (the Buildbot master must share the scheduler DB): use " + sqliteForms)
	}
	path, err := filepath.Abs(p.database)
	if err != nil {
		return URL{}, errors.New("dburl: cannot make the sqlite path absolute: " + err.Error())
	}
	u := URL{Driver: DriverSQLite, DSN: path, Database: path, redacted: p.raw}
	if p.query != "" {
		q, err := url.ParseQuery(p.query)
		if err != nil {
			return URL{}, errors.New("dburl: malformed query string")
		}
		for key := range q {
			u.IgnoredParams = append(u.IgnoredParams, key)
		}
		slices.Sort(u.IgnoredParams)
	}
	return u, nil
}
