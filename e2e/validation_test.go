package e2e

import (
	"encoding/json"
	"testing"
)

// Scenario 13: a payload that breaks the original's schema (REFERENCE §F)
// is refused the way the original refused it: the run is claimed and
// resolved exception/malformed-payload, so the author sees why, and nothing
// reaches Buildbot.
func TestValidationInvalidPayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	cases := map[string]string{
		"no buildername":        `{"properties": {"product": "firefox"}}`,
		"empty buildername":     `{"buildername": "", "properties": {"product": "firefox"}}`,
		"no product":            `{"buildername": "linux64 validation build", "properties": {"version": "99.0"}}`,
		"no properties":         `{"buildername": "linux64 validation build"}`,
		"unknown top-level key": `{"buildername": "linux64 validation build", "properties": {"product": "firefox"}, "priority": "high"}`,
		"branch shorter than 3": `{"buildername": "linux64 validation build", "properties": {"product": "firefox"}, "sourcestamp": {"branch": "ab"}}`,
		"unknown sourcestamp key": `{"buildername": "linux64 validation build", "properties": {"product": "firefox"},
			"sourcestamp": {"branch": "mozilla-central", "changeset": "abc"}}`,
	}
	tasks := map[string]string{}
	for what, payload := range cases {
		tasks[what] = e.createTask(taskSpec{Builder: what, Payload: json.RawMessage(payload)})
	}
	// A valid task next to them still runs: the refusals are the
	// payloads', not the deployment's.
	good := e.createTask(taskSpec{Builder: "linux64 validation build", Branch: "mozilla-central"})

	for what, taskID := range tasks {
		g3ExpectMalformed(e, taskID, what)
	}
	g3ExpectCompleted(e, good, "valid payload")
	if n := len(e.sim.SelfServeCalls()); n != 0 {
		t.Errorf("%d self-serve calls, want none: %+v", n, e.sim.SelfServeCalls())
	}
}

// Scenario 14: a restricted builder ("^release-" in the harness config)
// needs a scope for it in the task's scopes, with Taskcluster's
// *-suffix semantics; without one the task is malformed-payload.
func TestValidationRestrictedBuilder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const name = "release-firefox-linux64"
	refused := map[string][]string{
		"no scopes":                    nil,
		"a scope for another builder":  {"buildbot-bridge:builder-name:release-thunderbird-linux64"},
		"a *-scope for other builders": {"buildbot-bridge:builder-name:nightly-*"},
		"a prefix without *":           {"buildbot-bridge:builder-name:release-"},
	}
	accepted := map[string][]string{
		"the exact scope":       {"buildbot-bridge:builder-name:" + name},
		"a *-suffix scope":      {"buildbot-bridge:builder-name:release-*"},
		"the releng scope form": {"project:releng:buildbot-bridge:builder-name:" + name},
	}
	ids := map[string]string{}
	for what, scopes := range refused {
		ids[what] = e.createTask(taskSpec{Builder: name, Scopes: scopes})
	}
	for what, scopes := range accepted {
		ids[what] = e.createTask(taskSpec{Builder: name, Scopes: scopes})
	}
	for what := range refused {
		g3ExpectMalformed(e, ids[what], "restricted builder with "+what)
	}
	for what := range accepted {
		g3ExpectCompleted(e, ids[what], "restricted builder with "+what)
	}
}

// Scenario 14: an ignored builder ("^ignored-") gets nothing at all from
// the bridge, even when the rest of its payload is invalid: no claim, no
// resolution, no BuildRequest. The task stays pending in TC.
func TestValidationIgnoredBuilder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	valid := e.createTask(taskSpec{Builder: "ignored-linux64 build", Branch: "mozilla-central"})
	invalid := e.createTask(taskSpec{Builder: "ignored-linux64 build",
		Payload: json.RawMessage(`{"buildername": "ignored-linux64 build", "properties": {}, "extra": true}`)})
	// An ignored pattern is anchored at the start only (re.match): a name
	// merely containing it is not ignored.
	notIgnored := e.createTask(taskSpec{Builder: "linux64 ignored-suffix build"})

	g3ExpectIgnored(e, valid, "ignored builder")
	g3ExpectIgnored(e, invalid, "ignored builder with an invalid payload")
	g3ExpectCompleted(e, notIgnored, "builder containing the ignored prefix")
	if n := len(e.sim.SelfServeCalls()); n != 0 {
		t.Errorf("%d self-serve calls, want none: %+v", n, e.sim.SelfServeCalls())
	}
}

// Scenario 14: with allowed_builders_url configured, a builder missing from
// the list is malformed-payload and a listed one runs.
func TestValidationAllowedBuilders(t *testing.T) {
	t.Parallel()
	list := g3AllowedBuilders(t, "allowed-builder")
	e := newEnv(t, envOptions{Config: func(c map[string]any) {
		c["allowed_builders_url"] = list
	}})
	allowed := e.createTask(taskSpec{Builder: "allowed-builder", Branch: "mozilla-central"})
	missing := e.createTask(taskSpec{Builder: "unlisted-builder", Branch: "mozilla-central"})

	g3ExpectCompleted(e, allowed, "listed builder")
	g3ExpectMalformed(e, missing, "builder missing from the allowed list")
}

// Scenario 24: the original's own sample patterns (REFERENCE §F):
// restricted "^release-.*$" and ignored "^((?!alder).)*$", a negative
// lookahead meaning "every builder not containing alder is ignored", plus
// an allowed list. Patterns apply like Python's re.match.
func TestValidationOriginalPatterns(t *testing.T) {
	t.Parallel()
	list := g3AllowedBuilders(t,
		"alder linux64 build", "linux64 alder nightly", "release-alder-repack",
		"alder release-notes", "mozilla-central linux64 build")
	e := newEnv(t, envOptions{Config: func(c map[string]any) {
		c["restricted_builders"] = []string{"^release-.*$"}
		c["ignored_builders"] = []string{"^((?!alder).)*$"}
		c["allowed_builders_url"] = list
	}})
	ignored := e.createTask(taskSpec{Builder: "mozilla-central linux64 build"})
	runs := e.createTask(taskSpec{Builder: "alder linux64 build", Branch: "projects/alder"})
	runsMid := e.createTask(taskSpec{Builder: "linux64 alder nightly", Branch: "projects/alder"})
	// "^release-" does not match here: re.match anchors at the start.
	notRestricted := e.createTask(taskSpec{Builder: "alder release-notes", Branch: "projects/alder"})
	restrictedNoScope := e.createTask(taskSpec{Builder: "release-alder-repack", Branch: "projects/alder"})
	restrictedScope := e.createTask(taskSpec{Builder: "release-alder-repack", Branch: "projects/alder",
		Scopes: []string{"buildbot-bridge:builder-name:release-*"}})
	unlisted := e.createTask(taskSpec{Builder: "alder unlisted build", Branch: "projects/alder"})

	g3ExpectIgnored(e, ignored, "builder without alder")
	g3ExpectCompleted(e, runs, "builder starting with alder")
	g3ExpectCompleted(e, runsMid, "builder containing alder")
	g3ExpectCompleted(e, notRestricted, "builder with release- past its start")
	g3ExpectMalformed(e, restrictedNoScope, "restricted alder builder without scope")
	g3ExpectCompleted(e, restrictedScope, "restricted alder builder with a *-scope")
	g3ExpectMalformed(e, unlisted, "alder builder missing from the allowed list")
}
