package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Bad input never sticks a task (issue 6): whatever a task's author
// writes, the task ends either stored faithfully in the scheduler DB or as
// a clear exception/malformed-payload, and its workflow ends.

// biProperties reads the buildset_properties rows of the task's buildset
// as Buildbot stores them: property_value is the JSON list [value, source].
func biProperties(e *env, taskID string) map[string]string {
	e.t.Helper()
	rows, err := e.db.SQL().QueryContext(e.ctx,
		`SELECT p.property_name, p.property_value FROM buildset_properties p
		 JOIN buildsets bs ON bs.id = p.buildsetid WHERE bs.external_idstring = ?`, "taskId:"+taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			e.t.Fatal(err)
		}
		out[name] = value
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// A property Buildbot cannot store (encoded [value,"bbb"] over 1024
// characters) is malformed-payload with no BuildRequest; properties of
// every JSON type are stored as [value, "bbb"] exactly, and one of exactly
// 1024 characters still fits.
func TestBadInputProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// [ "x…x" , "bbb" ] is len(value) + 10 characters.
	tooLong := e.createTask(taskSpec{Builder: "linux64 props build", Properties: map[string]any{
		"product": "firefox", "comment": strings.Repeat("x", 1015),
	}})
	typed := map[string]any{
		"product":   "firefox",
		"int":       json.Number("42"),
		"bignum":    json.Number("12345678901234567890"),
		"float":     json.Number("2.50"),
		"bool":      true,
		"null":      nil,
		"list":      []any{json.Number("1"), "two", nil},
		"object":    map[string]any{"nested": map[string]any{"a": false}},
		"unicode":   "Grüße 🚀",
		"exactly":   strings.Repeat("y", 1014),
		"html<&>'":  "<b>&amp;</b>",
		"empty str": "",
	}
	stored := e.createTask(taskSpec{Builder: "linux64 props build", Properties: typed})

	g3ExpectMalformed(e, tooLong, "a 1025-character property")
	g3ExpectCompleted(e, stored, "properties of every JSON type")

	rows := biProperties(e, stored)
	for name, want := range typed {
		raw, ok := rows[name]
		if !ok {
			t.Errorf("property %q not stored; rows %v", name, rows)
			continue
		}
		if len([]rune(raw)) > 1024 {
			t.Errorf("property %q stored as %d characters, over Buildbot's 1024", name, len([]rune(raw)))
		}
		// Buildbot's master does value, source = json.loads(property_value).
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var pair []any
		if err := dec.Decode(&pair); err != nil || len(pair) != 2 {
			t.Errorf("property %q stored as %s: not a [value, source] list", name, raw)
			continue
		}
		if pair[1] != "bbb" {
			t.Errorf("property %q source %v, want bbb", name, pair[1])
		}
		if !reflect.DeepEqual(pair[0], want) {
			t.Errorf("property %q stored as %s, want value %#v", name, raw, want)
		}
	}
	if rows["taskId"] != fmt.Sprintf(`[%q, "bbb"]`, stored) && rows["taskId"] != fmt.Sprintf(`[%q,"bbb"]`, stored) {
		t.Errorf("taskId property %s", rows["taskId"])
	}
}

// A builder name full of quotes and SQL is data: stored verbatim, the
// builds table still there, the task run.
func TestBadInputBuilderNameWithSQL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const name = `x'); DROP TABLE builds; -- "quoted" \ back`
	taskID := e.createTask(taskSpec{Builder: name, Properties: map[string]any{
		"product": "firefox", `evil'); DELETE FROM buildrequests; --`: `'; DROP TABLE buildsets; --`,
	}, Branch: `release'); DROP TABLE sourcestamps; --`})
	g3ExpectCompleted(e, taskID, "a builder name with SQL")

	var stored, branch string
	if err := e.db.SQL().QueryRowContext(e.ctx,
		`SELECT br.buildername, ss.branch FROM buildrequests br JOIN buildsets bs ON bs.id = br.buildsetid
		 JOIN sourcestamps ss ON ss.id = bs.sourcestampid WHERE bs.external_idstring = ?`, "taskId:"+taskID).Scan(&stored, &branch); err != nil {
		t.Fatal(err)
	}
	if stored != name || branch != `release'); DROP TABLE sourcestamps; --` {
		t.Errorf("stored buildername %q branch %q, want them verbatim", stored, branch)
	}
	var builds int
	if err := e.db.SQL().QueryRowContext(e.ctx, `SELECT COUNT(*) FROM builds`).Scan(&builds); err != nil {
		t.Fatalf("builds table: %v", err)
	}
	if builds != 1 {
		t.Errorf("%d builds rows, want the one build of the task", builds)
	}
	props := biProperties(e, taskID)
	if props[`evil'); DELETE FROM buildrequests; --`] != `["'; DROP TABLE buildsets; --","bbb"]` {
		t.Errorf("SQL-looking property stored as %v", props)
	}
}

// A branch that is neither a URL nor a path is stored as the original
// stored it (trailing slashes dropped; "://" branches cut to the URL's
// path), and the task runs.
func TestBadInputBranches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	branches := map[string]string{
		"a b c":                    "a b c",
		":::":                      ":::",
		"::/":                      "::",
		"https://hg.mozilla.org/a": "a",
		"not a url://x/y":          "not a url://x/y",
		"hg://host/releases/x;y/":  "releases/x;y",
	}
	ids := map[string]string{}
	for branch := range branches {
		ids[branch] = e.createTask(taskSpec{Builder: "linux64 branch build", Branch: branch})
	}
	for branch, want := range branches {
		taskID := ids[branch]
		g3ExpectCompleted(e, taskID, "branch "+branch)
		var got string
		if err := e.db.SQL().QueryRowContext(e.ctx,
			`SELECT ss.branch FROM sourcestamps ss JOIN buildsets bs ON bs.sourcestampid = ss.id
			 WHERE bs.external_idstring = ?`, "taskId:"+taskID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("branch %q stored as %q, want %q", branch, got, want)
		}
	}
}

// A huge payload — one 2 MB property, or 2 MB spread over properties that
// each fit — is a clear malformed-payload within seconds: no activity
// retried forever on a result too big for Temporal.
func TestBadInputHugePayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	start := time.Now()
	one := e.createTask(taskSpec{Builder: "linux64 huge build", Properties: map[string]any{
		"product": "firefox", "blob": strings.Repeat("z", 2<<20),
	}})
	many := map[string]any{"product": "firefox"}
	for i := 0; len(many) < 2100; i++ {
		many[fmt.Sprintf("p%04d", i)] = strings.Repeat("w", 1000)
	}
	spread := e.createTask(taskSpec{Builder: "linux64 huge build", Properties: many})
	g3ExpectMalformed(e, one, "one 2 MB property")
	g3ExpectMalformed(e, spread, "2 MB over 2100 properties")
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("the huge payloads took %s to refuse", took)
	}
}
