package bench

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func TestPrefillWritesACompletedHistory(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"mariadb", testenv.MariaDBURL}, {"sqlite", testenv.SQLiteURL}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			db, err := schedulerdb.Open(ctx, tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.CreateBuildbotSchema(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.EnsureBridgeTable(ctx); err != nil {
				t.Fatal(err)
			}
			const n = 1000
			if err := Prefill(ctx, db.SQL(), db.Driver(), n); err != nil {
				t.Fatal(err)
			}
			count := func(q string) int {
				t.Helper()
				var c int
				if err := db.SQL().QueryRowContext(ctx, q).Scan(&c); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return c
			}
			for q, want := range map[string]int{
				`SELECT COUNT(*) FROM buildrequests`:                                           n,
				`SELECT COUNT(*) FROM buildrequests WHERE complete = 1 AND claimed_at > 0`:     n,
				`SELECT COUNT(*) FROM buildsets WHERE complete = 1`:                            n,
				`SELECT COUNT(*) FROM buildsets WHERE reason LIKE 'Created by BBB for task %'`: n / 10,
				`SELECT COUNT(*) FROM buildsets WHERE external_idstring LIKE 'taskId:%'`:       n / 10,
				`SELECT COUNT(*) FROM buildset_properties`:                                     2 * n,
				`SELECT COUNT(*) FROM builds`:                                                  n,
				`SELECT COUNT(*) FROM sourcestamps`:                                            n / 10,
				`SELECT COUNT(DISTINCT buildername) FROM buildrequests`:                        PrefillBuilders,
				`SELECT COUNT(*) FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
				  JOIN sourcestamps ss ON ss.id = bs.sourcestampid`: n,
			} {
				if got := count(q); got != want {
					t.Errorf("%s = %d, want %d", q, got, want)
				}
			}

			// Buildbot reads each value as json.loads -> [value, source].
			rows, err := db.SQL().QueryContext(ctx, `SELECT property_value FROM buildset_properties`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v string
				var pair []any
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(v), &pair); err != nil || len(pair) != 2 {
					t.Fatalf("property_value %q is not [value, source]", v)
				}
			}
			rows.Close()
			var rev string
			if err := db.SQL().QueryRowContext(ctx, `SELECT revision FROM sourcestamps WHERE id = 7`).Scan(&rev); err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(rev) {
				t.Errorf("revision %q is not a 40-digit changeset id", rev)
			}

			// The bridge's next request lands after the history.
			res, err := db.InjectBuildRequest(ctx, schedulerdb.Injection{TaskID: "fresh-task", BuilderName: "bench-linux64-opt",
				Properties: []schedulerdb.Property{{Name: "product", Value: "firefox"}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.BuildRequestID != n+1 {
				t.Errorf("first injected BuildRequest id = %d, want %d", res.BuildRequestID, n+1)
			}
		})
	}
}
