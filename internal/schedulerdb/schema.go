package schedulerdb

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
)

var (
	//go:embed schema_mysql.sql
	schemaMySQL string
	//go:embed schema_sqlite.sql
	schemaSQLite string
)

// BuildbotSchema returns the DDL of Buildbot 0.8.2's scheduler tables for
// the given driver ("mysql" or "sqlite"), as applied by CreateBuildbotSchema.
func BuildbotSchema(driver string) string {
	if driver == DriverMySQL {
		return schemaMySQL
	}
	return schemaSQLite
}

// CreateBuildbotSchema creates Buildbot 0.8.2's scheduler tables and
// indexes in an empty database. It is for tests and the demo: in
// production the masters own these tables and the bridge never runs it.
func (d *DB) CreateBuildbotSchema(ctx context.Context) error {
	// MySQL commits each DDL statement on its own, so a transaction would
	// not make this atomic there; a failure leaves a database to drop.
	for _, stmt := range splitStatements(BuildbotSchema(d.driver)) {
		if err := d.exec(ctx, stmt); err != nil {
			return fmt.Errorf("schedulerdb: create Buildbot schema: %w", err)
		}
	}
	return nil
}

// EnsureBridgeTable creates the bridge's bbb_tasks table and its index on
// buildrequest_id if they are missing. It is idempotent and safe when
// several bridge processes start at once.
func (d *DB) EnsureBridgeTable(ctx context.Context) error {
	for _, stmt := range d.dialect.bridgeTableDDL {
		if err := d.exec(ctx, stmt); err != nil {
			return fmt.Errorf("schedulerdb: create bbb_tasks: %w", err)
		}
	}
	return nil
}

func (d *DB) exec(ctx context.Context, stmt string) error {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	_, err := d.db.ExecContext(ctx, stmt)
	return err
}

// splitStatements cuts a DDL file into statements, since neither driver is
// set up to run several in one call. The files keep ';' out of comments
// and string literals, which is all this needs.
func splitStatements(script string) []string {
	var lines []string
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		lines = append(lines, line)
	}
	var stmts []string
	for _, s := range strings.Split(strings.Join(lines, "\n"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts
}
