package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/bbbridge/buildbot-bridge/internal/oneprocess"
)

// retention is how long closed workflows stay visible. The schema default
// (one day) would empty the Web UI of a demo left overnight.
const retention = 7 * 24 * time.Hour

// preparePersistence makes sure dbPath holds Temporal's SQLite schema and
// the namespace, and returns the persistence config pointing at it.
//
// The schema's DDL cannot run twice, so it is applied to a temporary file
// that is renamed into place only once complete: the file's existence means
// a finished schema, and a start interrupted half-way leaves no file that
// looks usable.
func preparePersistence(dbPath, namespace string, attrs map[string]enumspb.IndexedValueType) (*config.SQL, error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, fmt.Errorf("devserver: data folder: %w", err)
	}
	_, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tmp := dbPath + ".init"
		for _, f := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("devserver: remove leftover %s: %w", f, err)
			}
		}
		if err := sqliteschema.SetupSchema(schemaConfig(tmp)); err != nil {
			return nil, fmt.Errorf("devserver: create Temporal schema in %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, dbPath); err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("devserver: %w", err)
	}

	conf := sqlConfig(dbPath)
	ns, err := sqliteschema.NewNamespaceConfig(oneprocess.ClusterName, namespace, false, attrs)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %s: %w", namespace, err)
	}
	ns.Detail.Config.Retention = timestamp.DurationPtr(retention)
	// A no-op when the namespace exists, as on every start but the first.
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %s: %w", namespace, err)
	}
	return conf, nil
}

// sqlConfig is the server's: a write-ahead log with a sync at every
// commit, so what the server acknowledged is on disk (a kill, a crash or
// a power cut loses nothing), at 1.6 times the workflows per second of
// SQLite's default rollback journal, which syncs the journal and the
// file at each commit (README, "Performance"). synchronous=normal was
// faster still, but may lose the last commits to a power cut.
func sqlConfig(path string) *config.SQL {
	c := schemaConfig(path)
	c.ConnectAttributes["journal_mode"] = "wal"
	c.ConnectAttributes["synchronous"] = "full"
	return c
}

// schemaConfig opens the file in SQLite's default (rollback journal)
// mode, for the schema's setup: the file is renamed into place once
// complete, which a write-ahead log beside it would not follow.
func schemaConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		// rwc: read-write, create if missing.
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
}
