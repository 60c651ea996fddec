package activities_test

import (
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/activities"
)

// The original bridge's restricted-builder cases (issue 6, security), run
// through PrepareTask's real decision: a builder matching
// restricted_builders needs buildbot-bridge:builder-name:<name> or
// project:releng:buildbot-bridge:builder-name:<name>, with Taskcluster's
// *-suffix semantics; anything else needs no scope.
func TestPrepareTaskRestrictedBuilderScopes(t *testing.T) {
	t.Parallel()
	const builder = "release-mozilla-beta-firefox_source"
	payload := `{"buildername": "` + builder + `", "properties": {"product": "firefox"}}`
	unrestricted := `{"buildername": "linux64-build", "properties": {"product": "firefox"}}`

	open := newBridge(t, bridgeOptions{})
	restricted := newBridge(t, bridgeOptions{configure: func(d *activities.Deps) {
		d.RestrictedBuilders = patterns(t, `^release-.*$`)
	}})
	cases := []struct {
		name    string
		b       *bridge
		payload string
		scopes  []string
		allowed bool
	}{
		{"no restriction configured", open, payload, nil, true},
		{"unrestricted builder", restricted, unrestricted, nil, true},
		{"*", restricted, payload, []string{"*"}, true},
		{"partial *", restricted, payload, []string{"buildbot-bridge:builder-name:release-*"}, true},
		{"bridge *", restricted, payload, []string{"buildbot-bridge:*"}, true},
		{"exact", restricted, payload, []string{"buildbot-bridge:builder-name:" + builder}, true},
		{"project:releng exact", restricted, payload, []string{"project:releng:buildbot-bridge:builder-name:" + builder}, true},
		{"project:releng partial *", restricted, payload, []string{"project:releng:buildbot-bridge:builder-name:release-*"}, true},
		{"not authorized: no scopes", restricted, payload, nil, false},
		{"not authorized: another builder", restricted, payload, []string{"buildbot-bridge:builder-name:release-mozilla-beta-fennec"}, false},
		{"not authorized: star not at the end", restricted, payload, []string{"buildbot-bridge:builder-name:*-firefox_source"}, false},
		{"not authorized: releng prefix without star", restricted, payload, []string{"project:releng:buildbot-bridge:builder-name:release-"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			taskID := c.b.createTask(t, taskSpec{payload: c.payload, scopes: c.scopes})
			var prep activities.Prepared
			c.b.must(t, &prep, c.b.acts.PrepareTask, activities.PrepareInput{TaskID: taskID})
			want := activities.DecisionMalformed
			if c.allowed {
				want = activities.DecisionInject
			}
			if prep.Decision != want {
				t.Fatalf("decision %q (%s), want %q", prep.Decision, prep.Reason, want)
			}
			if !c.allowed && !strings.Contains(prep.Reason, "buildbot-bridge:builder-name:"+builder) {
				t.Errorf("reason %q does not name the scope the task needs", prep.Reason)
			}
		})
	}
}
