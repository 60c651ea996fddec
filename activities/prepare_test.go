package activities_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/config"
)

func patterns(t *testing.T, src ...string) config.Patterns {
	t.Helper()
	p, err := config.CompilePatterns(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrepareTaskDecisions(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.IgnoredBuilders = patterns(t, `^Ignored `)
		d.RestrictedBuilders = patterns(t, `^release-`, `.*-signing$`)
	}})
	long := strings.Repeat("x", 1020)

	cases := []struct {
		name     string
		spec     taskSpec
		decision string
		// reason must contain each of these
		reason []string
	}{{
		name:     "ignored builder even with an invalid payload",
		spec:     taskSpec{payload: `{"buildername": "Ignored linux64 nightly", "unexpected": true}`},
		decision: activities.DecisionIgnore,
		reason:   []string{"Ignored linux64 nightly", "ignored_builders"},
	}, {
		name:     "schema: properties without product",
		spec:     taskSpec{payload: `{"buildername": "linux64-build", "properties": {"branch": "x"}}`},
		decision: activities.DecisionMalformed,
		reason:   []string{"/properties", `"product"`},
	}, {
		name:     "schema: unknown key",
		spec:     taskSpec{payload: `{"buildername": "linux64-build", "properties": {"product": "firefox"}, "extra": 1}`},
		decision: activities.DecisionMalformed,
		reason:   []string{`"extra"`},
	}, {
		name:     "restricted builder without scope",
		spec:     taskSpec{payload: `{"buildername": "release-firefox-linux64", "properties": {"product": "firefox"}}`, scopes: []string{"queue:route:index.foo"}},
		decision: activities.DecisionMalformed,
		reason: []string{"release-firefox-linux64", "buildbot-bridge:builder-name:release-firefox-linux64",
			"project:releng:buildbot-bridge:builder-name:release-firefox-linux64"},
	}, {
		name:     "restricted builder matched anywhere by its pattern, without scope",
		spec:     taskSpec{payload: `{"buildername": "win32-signing", "properties": {"product": "firefox"}}`},
		decision: activities.DecisionMalformed,
		reason:   []string{"buildbot-bridge:builder-name:win32-signing"},
	}, {
		name:     "restricted builder with a star scope",
		spec:     taskSpec{payload: `{"buildername": "release-firefox-linux64", "properties": {"product": "firefox"}}`, scopes: []string{"buildbot-bridge:builder-name:release-*"}},
		decision: activities.DecisionInject,
	}, {
		name:     "restricted builder with the releng project scope",
		spec:     taskSpec{payload: `{"buildername": "release-firefox-linux64", "properties": {"product": "firefox"}}`, scopes: []string{"project:releng:buildbot-bridge:builder-name:release-firefox-linux64"}},
		decision: activities.DecisionInject,
	}, {
		name:     "restricted builder with *",
		spec:     taskSpec{payload: `{"buildername": "release-firefox-linux64", "properties": {"product": "firefox"}}`, scopes: []string{"*"}},
		decision: activities.DecisionInject,
	}, {
		name:     "restricted builder with a scope for another builder",
		spec:     taskSpec{payload: `{"buildername": "release-firefox-linux64", "properties": {"product": "firefox"}}`, scopes: []string{"buildbot-bridge:builder-name:release-fennec-*"}},
		decision: activities.DecisionMalformed,
		reason:   []string{"restricted"},
	}, {
		name:     "property too long",
		spec:     taskSpec{payload: `{"buildername": "linux64-build", "properties": {"product": "firefox", "installer_url": "` + long + `"}}`},
		decision: activities.DecisionMalformed,
		reason:   []string{`"installer_url"`, "1024"},
	}, {
		name:     "property just short enough",
		spec:     taskSpec{payload: `{"buildername": "linux64-build", "properties": {"product": "firefox", "installer_url": "` + long[:1014] + `"}}`},
		decision: activities.DecisionInject,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			taskID := b.createTask(t, c.spec)
			var prep activities.Prepared
			b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID, RunID: 0})
			if prep.Decision != c.decision {
				t.Fatalf("decision %q (%s), want %q", prep.Decision, prep.Reason, c.decision)
			}
			for _, want := range c.reason {
				if !strings.Contains(prep.Reason, want) {
					t.Errorf("reason %q does not mention %s", prep.Reason, want)
				}
			}
			if (prep.Injection != nil) != (c.decision == activities.DecisionInject) {
				t.Errorf("injection %v with decision %s", prep.Injection, prep.Decision)
			}
			if prep.Expires.IsZero() || prep.Deadline.IsZero() {
				t.Errorf("expires %s / deadline %s not taken from the definition", prep.Expires, prep.Deadline)
			}
			if st := b.status(t, taskID).Runs[0].State; st != "pending" {
				t.Errorf("PrepareTask changed the run to %s", st)
			}
		})
	}
}

func TestPrepareTaskSampleIgnorePatternWithLookahead(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		// The original's config.json.sample: ignore everything not on alder.
		d.IgnoredBuilders = patterns(t, `^((?!alder).)*$`)
	}})
	for builder, want := range map[string]string{
		"Linux x86-64 mozilla-central build": activities.DecisionIgnore,
		"Linux x86-64 alder build":           activities.DecisionInject,
	} {
		taskID := b.createTask(t, taskSpec{payload: `{"buildername": "` + builder + `", "properties": {"product": "firefox"}}`})
		var prep activities.Prepared
		b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
		if prep.Decision != want {
			t.Errorf("%q: decision %q (%s), want %q", builder, prep.Decision, prep.Reason, want)
		}
	}
}

func TestPrepareTaskInjection(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	taskID := b.createTask(t, taskSpec{
		priority: "high",
		payload: `{"buildername": "WINNT 5.2 mozilla-beta build",
			"sourcestamp": {"branch": "https://hg.mozilla.org/releases/mozilla-beta", "revision": "0123456789ab",
				"repository": "https://hg.mozilla.org/releases/mozilla-beta", "project": "mozilla-beta"},
			"properties": {"product": "firefox", "version": "57.0b3", "build_number": 2,
				"ratio": 1.50, "locales": ["de", "fr"], "extra": {"b": 1, "a": [true, null]}}}`,
	})
	var prep activities.Prepared
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID, RunID: 0})
	if prep.Decision != activities.DecisionInject || prep.Injection == nil {
		t.Fatalf("decision %q (%s), want inject", prep.Decision, prep.Reason)
	}
	inj := prep.Injection
	if inj.BuilderName != "WINNT 5.2 mozilla-beta build" || prep.BuilderName != inj.BuilderName {
		t.Errorf("builder %q / %q", inj.BuilderName, prep.BuilderName)
	}
	wantSS := activities.Sourcestamp{Branch: "releases/mozilla-beta", Revision: "0123456789ab",
		Repository: "https://hg.mozilla.org/releases/mozilla-beta", Project: "mozilla-beta"}
	if inj.Sourcestamp != wantSS || prep.Branch != "releases/mozilla-beta" || prep.Revision != "0123456789ab" {
		t.Errorf("sourcestamp %+v (branch %q), want %+v", inj.Sourcestamp, prep.Branch, wantSS)
	}
	if inj.Priority != 1 {
		t.Errorf("priority %d for a high-priority task, want 1", inj.Priority)
	}
	// The queue decides the order it serves the payload's keys in (the real
	// one keeps definitions in JSONB); the properties keep that order, and
	// each value is the JSON as served: 1.50 stays 1.50, not 1.5.
	def, err := b.creator.Task(taskID)
	if err != nil {
		t.Fatal(err)
	}
	served := servedPropertyOrder(t, def.Payload)
	var names []string
	values := map[string]string{}
	for _, p := range inj.Properties {
		names = append(names, p.Name)
		values[p.Name] = compactJSON(t, p.Value)
	}
	if got, want := strings.Join(names, ","), strings.Join(served, ","); got != want {
		t.Errorf("property order %s, want the order the queue serves: %s", got, want)
	}
	for name, want := range map[string]string{
		"product": `"firefox"`, "version": `"57.0b3"`, "build_number": `2`, "ratio": `1.50`,
		"locales": `["de","fr"]`,
	} {
		if values[name] != want {
			t.Errorf("property %s = %s, want %s", name, values[name], want)
		}
	}
	var extra any
	if err := json.Unmarshal([]byte(values["extra"]), &extra); err != nil || !reflect.DeepEqual(extra, map[string]any{"b": 1.0, "a": []any{true, nil}}) {
		t.Errorf("property extra = %s, want the object as given", values["extra"])
	}
	// The workflow sets the run's scheduled time itself.
	if !inj.SubmittedAt.IsZero() {
		t.Errorf("SubmittedAt %s set by PrepareTask", inj.SubmittedAt)
	}

	// Default priority, and no sourcestamp at all.
	taskID = b.createTask(t, taskSpec{payload: `{"buildername": "linux64-build", "properties": {"product": "firefox"}}`})
	prep = activities.Prepared{}
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
	if prep.Decision != activities.DecisionInject {
		t.Fatalf("no sourcestamp: decision %q (%s), want inject", prep.Decision, prep.Reason)
	}
	if prep.Injection.Sourcestamp != (activities.Sourcestamp{}) || prep.Injection.Priority != 0 {
		t.Errorf("no sourcestamp: got %+v priority %d, want an empty sourcestamp, priority 0", prep.Injection.Sourcestamp, prep.Injection.Priority)
	}
}

func TestPrepareTaskUnknownTask(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	var prep activities.Prepared
	err := b.run(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: "fN1gQ8ZPRZOaXM0ypZq1Pw"})
	wantFinal(t, err, activities.ErrTCNotFound)
}

// allowedList serves an allowed-builders document, or 503 while down.
type allowedList struct {
	down  atomic.Bool
	hits  atomic.Int32
	names []string
}

func (l *allowedList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.hits.Add(1)
	if l.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]map[string]any{"builders": {}}
	for _, n := range l.names {
		doc["builders"][n] = map[string]any{"slavepool": "linux64"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func TestPrepareTaskAllowedBuilders(t *testing.T) {
	t.Parallel()
	list := &allowedList{names: []string{"linux64-build", "win32-build"}}
	srv := httptest.NewServer(list)
	defer srv.Close()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.AllowedBuilders = activities.NewAllowedBuilders(srv.URL+"/builders.json", time.Hour, nil, nil)
	}})
	allowed := b.createTask(t, taskSpec{payload: `{"buildername": "win32-build", "properties": {"product": "firefox"}}`})
	other := b.createTask(t, taskSpec{payload: `{"buildername": "osx-build", "properties": {"product": "firefox"}}`})

	var prep activities.Prepared
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: allowed})
	if prep.Decision != activities.DecisionInject {
		t.Errorf("listed builder: %q (%s), want inject", prep.Decision, prep.Reason)
	}
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: other})
	if prep.Decision != activities.DecisionMalformed || !strings.Contains(prep.Reason, "osx-build") {
		t.Errorf("unlisted builder: %q (%s), want malformed naming it", prep.Decision, prep.Reason)
	}
	if n := list.hits.Load(); n != 1 {
		t.Errorf("list fetched %d times within its refresh period, want 1", n)
	}
}

func TestAllowedBuildersOutageIsOurs(t *testing.T) {
	t.Parallel()
	list := &allowedList{names: []string{"linux64-build"}}
	list.down.Store(true)
	srv := httptest.NewServer(list)
	defer srv.Close()
	b := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.AllowedBuilders = activities.NewAllowedBuilders(srv.URL, 10*time.Millisecond, nil, nil)
	}})
	taskID := b.createTask(t, taskSpec{payload: `{"buildername": "linux64-build", "properties": {"product": "firefox"}}`})

	// Never fetched and unreachable: retry, never malformed-payload.
	var prep activities.Prepared
	err := b.run(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
	wantRetryable(t, err)
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q should say what the list answered", err)
	}

	// Once fetched, a later outage keeps the list already known.
	list.down.Store(false)
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
	if prep.Decision != activities.DecisionInject {
		t.Fatalf("decision %q (%s), want inject", prep.Decision, prep.Reason)
	}
	list.down.Store(true)
	time.Sleep(20 * time.Millisecond)
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
	if prep.Decision != activities.DecisionInject {
		t.Errorf("with a stale list during an outage: %q (%s), want inject", prep.Decision, prep.Reason)
	}
}

// servedPropertyOrder lists payload.properties' keys in the order of the
// JSON text.
func servedPropertyOrder(t *testing.T, payload []byte) []string {
	t.Helper()
	var top struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(payload, &top); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(top.Properties))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("property value %q is not JSON: %v", raw, err)
	}
	return buf.String()
}

// Properties that each fit Buildbot's column but together would overflow
// Temporal's payload limit (and stick the workflow task) are malformed.
func TestPrepareTaskPropertiesTooLargeInTotal(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{})
	props := map[string]any{"product": "firefox"}
	for i := 0; i < 300; i++ {
		props[fmt.Sprintf("p%03d", i)] = strings.Repeat("w", 1000)
	}
	raw, err := json.Marshal(map[string]any{"buildername": "linux64-build", "properties": props})
	if err != nil {
		t.Fatal(err)
	}
	taskID := b.createTask(t, taskSpec{payload: string(raw)})
	var prep activities.Prepared
	b.must(t, &prep, b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
	if prep.Decision != activities.DecisionMalformed || prep.Injection != nil || !strings.Contains(prep.Reason, "bytes once encoded") {
		t.Errorf("decision %q (%s), want malformed for the total size", prep.Decision, prep.Reason)
	}
}
