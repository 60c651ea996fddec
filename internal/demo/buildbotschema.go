package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

// ensureBuildbotSchema creates Buildbot's tables unless the database has
// them from an earlier run (Buildbot's DDL cannot run twice). It reports
// whether it created them.
func ensureBuildbotSchema(ctx context.Context, db *schedulerdb.DB) (bool, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.Driver() == schedulerdb.DriverMySQL {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	}
	var name string
	err := db.SQL().QueryRowContext(ctx, query, "buildrequests").Scan(&name)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("scheduler DB %s: %w", db.Redacted(), err)
	}
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		return false, err
	}
	return true, nil
}
