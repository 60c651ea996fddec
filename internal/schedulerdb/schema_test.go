package schedulerdb_test

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// buildbotColumns is Buildbot 0.8.2's scheduler schema
// (master/buildbot/db/schema/tables.sql; REFERENCE §B).
var buildbotColumns = map[string][]string{
	"buildrequests": {"id", "buildsetid", "buildername", "priority", "claimed_at", "claimed_by_name",
		"claimed_by_incarnation", "complete", "results", "submitted_at", "complete_at"},
	"builds":                       {"id", "number", "brid", "start_time", "finish_time"},
	"buildset_properties":          {"buildsetid", "property_name", "property_value"},
	"buildsets":                    {"id", "external_idstring", "reason", "sourcestampid", "submitted_at", "complete", "complete_at", "results"},
	"sourcestamps":                 {"id", "branch", "revision", "patchid", "repository", "project"},
	"changes":                      {"changeid", "author", "comments", "is_dir", "branch", "revision", "revlink", "when_timestamp", "category", "repository", "project"},
	"change_files":                 {"changeid", "filename"},
	"change_links":                 {"changeid", "link"},
	"change_properties":            {"changeid", "property_name", "property_value"},
	"sourcestamp_changes":          {"sourcestampid", "changeid"},
	"patches":                      {"id", "patchlevel", "patch_base64", "subdir"},
	"schedulers":                   {"schedulerid", "name", "class_name", "state"},
	"scheduler_changes":            {"schedulerid", "changeid", "important"},
	"scheduler_upstream_buildsets": {"buildsetid", "schedulerid", "active"},
	"version":                      {"version"},
}

type column struct{ name, typ string }

// intDisplayWidth strips MySQL's int(11): the declared INTEGER is what
// matters.
var intDisplayWidth = regexp.MustCompile(`^(int|smallint)\(\d+\)$`)

func columns(t *testing.T, db *schedulerdb.DB, table string) []column {
	t.Helper()
	q := "SELECT name, type FROM pragma_table_info(?) ORDER BY cid"
	if db.Driver() == schedulerdb.DriverMySQL {
		q = `SELECT column_name, column_type FROM information_schema.columns
		     WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`
	}
	rows, err := db.SQL().QueryContext(testCtx(t), q, table)
	if err != nil {
		t.Fatalf("columns of %s: %v", table, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		c.typ = intDisplayWidth.ReplaceAllString(strings.ToLower(c.typ), "$1")
		c.typ = strings.Replace(c.typ, "integer", "int", 1)
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// indexesLeadingWith lists the indexes whose first column is column.
func indexesLeadingWith(t *testing.T, db *schedulerdb.DB, table, column string) []string {
	t.Helper()
	q := `SELECT il.name FROM pragma_index_list(?) il, pragma_index_info(il.name) ii
	      WHERE ii.seqno = 0 AND ii.name = ?`
	if db.Driver() == schedulerdb.DriverMySQL {
		q = `SELECT index_name FROM information_schema.statistics
		     WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ? AND seq_in_index = 1`
	}
	rows, err := db.SQL().QueryContext(testCtx(t), q, table, column)
	if err != nil {
		t.Fatalf("indexes of %s: %v", table, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestBuildbotSchemaIsBuildbot082s(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		for table, want := range buildbotColumns {
			var got []string
			for _, c := range columns(t, db, table) {
				got = append(got, c.name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("table %s has columns %v, Buildbot 0.8.2 has %v", table, got, want)
			}
		}

		types := map[string]string{}
		for _, table := range []string{"buildrequests", "buildset_properties", "buildsets", "sourcestamps"} {
			for _, c := range columns(t, db, table) {
				types[table+"."+c.name] = c.typ
			}
		}
		for col, want := range map[string]string{
			"buildset_properties.property_value": "varchar(1024)",
			"buildset_properties.property_name":  "varchar(256)",
			"buildrequests.buildername":          "varchar(256)",
			"buildrequests.claimed_at":           "int",
			"buildrequests.results":              "smallint",
			"buildsets.external_idstring":        "varchar(256)",
			"buildsets.reason":                   "varchar(256)",
			"sourcestamps.branch":                "varchar(256)",
			"sourcestamps.repository":            "text",
		} {
			if types[col] != want {
				t.Errorf("%s is %q, want %s", col, types[col], want)
			}
		}

		// The indexes masters and the bridge rely on, by Buildbot's names.
		for _, ix := range []struct{ table, column, name string }{
			{"buildrequests", "buildsetid", "buildrequests_buildsetid"},
			{"buildrequests", "complete", "buildrequests_complete"},
			{"buildrequests", "claimed_at", "buildrequests_claimed_at"},
			{"builds", "brid", "builds_brid"},
			{"buildsets", "submitted_at", "buildsets_submitted_at"},
			{"buildset_properties", "buildsetid", "buildset_properties_buildsetid"},
		} {
			if got := indexesLeadingWith(t, db, ix.table, ix.column); !slices.Contains(got, ix.name) {
				t.Errorf("no index %s on %s(%s); indexes there: %v", ix.name, ix.table, ix.column, got)
			}
		}
		// Buildbot 0.8 has no index on the buildset's external id or reason:
		// the reason bbb_tasks exists.
		for _, col := range []string{"external_idstring", "reason"} {
			if got := indexesLeadingWith(t, db, "buildsets", col); len(got) != 0 {
				t.Errorf("buildsets.%s has indexes %v; Buildbot 0.8.2 has none", col, got)
			}
		}

		var version int
		if err := db.SQL().QueryRowContext(testCtx(t), "SELECT version FROM version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if version != 6 {
			t.Errorf("schema version %d, a 0.8.2 master expects 6", version)
		}
	})
}

func TestBridgeTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *schedulerdb.DB, _ string) {
		var got []string
		for _, c := range columns(t, db, "bbb_tasks") {
			got = append(got, c.name)
		}
		if want := []string{"task_id", "buildrequest_id", "run_id", "created_at"}; !slices.Equal(got, want) {
			t.Errorf("bbb_tasks has columns %v, want %v", got, want)
		}
		if len(indexesLeadingWith(t, db, "bbb_tasks", "task_id")) == 0 {
			t.Error("bbb_tasks.task_id is not a key")
		}
		if len(indexesLeadingWith(t, db, "bbb_tasks", "buildrequest_id")) == 0 {
			t.Error("no index on bbb_tasks.buildrequest_id")
		}
		// Each start of the bridge runs it again.
		if err := db.EnsureBridgeTable(testCtx(t)); err != nil {
			t.Fatalf("second EnsureBridgeTable: %v", err)
		}
	})
}

// Two bridge processes starting at once against a database that has no
// bbb_tasks yet both succeed.
func TestEnsureBridgeTableFromTwoProcesses(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"mariadb": testenv.MariaDBURL, "sqlite": testenv.SQLiteURL} {
		t.Run(name, func(t *testing.T) {
			u := url(t)
			a, b := openDB(t, u), openDB(t, u)
			if err := a.CreateBuildbotSchema(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				db := a
				if i%2 == 1 {
					db = b
				}
				wg.Go(func() { errs <- db.EnsureBridgeTable(testCtx(t)) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent EnsureBridgeTable: %v", err)
				}
			}
			if n := count(t, a, "bbb_tasks"); n != 0 {
				t.Errorf("bbb_tasks has %d rows", n)
			}
		})
	}
}
