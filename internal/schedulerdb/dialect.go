package schedulerdb

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
)

// dialect holds the few places where MySQL and SQLite SQL differ.
type dialect struct {
	// forUpdate locks the rows a SELECT reads. SQLite has no row locks:
	// its transactions start with BEGIN IMMEDIATE (see sqlitePragmas) and so
	// already run one at a time.
	forUpdate string
	// keepExisting ends an INSERT into bbb_tasks so that an existing row
	// for the task is left untouched instead of failing the statement.
	keepExisting string
	// bridgeTableDDL creates bbb_tasks and its index if they are missing.
	bridgeTableDDL []string
}

func dialectFor(driver string) dialect {
	if driver == DriverMySQL {
		return dialect{
			forUpdate:    " FOR UPDATE",
			keepExisting: " ON DUPLICATE KEY UPDATE task_id = task_id",
			bridgeTableDDL: []string{
				// task_id is a case-sensitive slugid: a case-insensitive
				// collation would make two tasks one. The index is declared
				// inline because MySQL has no CREATE INDEX IF NOT EXISTS.
				`CREATE TABLE IF NOT EXISTS bbb_tasks (
					task_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
					buildrequest_id INTEGER NOT NULL,
					run_id INTEGER NOT NULL,
					created_at INTEGER NOT NULL,
					INDEX bbb_tasks_buildrequest_id (buildrequest_id)
				) ENGINE=InnoDB`,
			},
		}
	}
	return dialect{
		keepExisting: " ON CONFLICT (task_id) DO NOTHING",
		bridgeTableDDL: []string{
			`CREATE TABLE IF NOT EXISTS bbb_tasks (
				task_id VARCHAR(64) NOT NULL PRIMARY KEY,
				buildrequest_id INTEGER NOT NULL,
				run_id INTEGER NOT NULL,
				created_at INTEGER NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS bbb_tasks_buildrequest_id ON bbb_tasks (buildrequest_id)`,
		},
	}
}

// MySQL and SQLite error codes that mean "another writer got there first;
// the same transaction run again will succeed or find its work done".
const (
	mysqlDuplicateKey  = 1062
	mysqlLockWait      = 1205
	mysqlDeadlock      = 1213
	sqliteBusy         = 5
	sqliteLocked       = 6
	sqliteConstraint   = 19
	sqlitePrimaryCodes = 0xff
)

// isConflict reports whether err is a lost race with a concurrent writer.
func isConflict(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case mysqlDuplicateKey, mysqlDeadlock, mysqlLockWait:
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & sqlitePrimaryCodes {
		case sqliteBusy, sqliteLocked, sqliteConstraint:
			return true
		}
	}
	return false
}
