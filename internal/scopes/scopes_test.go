package scopes_test

import (
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/scopes"
)

func TestBuilderAllowed(t *testing.T) {
	const builder = "release-mozilla-beta-firefox_source"
	tests := []struct {
		name   string
		scopes []string
		want   bool
	}{
		{"no scopes", nil, false},
		{"empty list", []string{}, false},
		{"star", []string{"*"}, true},
		{"bridge star", []string{"buildbot-bridge:*"}, true},
		{"partial star", []string{"buildbot-bridge:builder-name:release-*"}, true},
		{"partial star for another prefix", []string{"buildbot-bridge:builder-name:nightly-*"}, false},
		{"exact", []string{"buildbot-bridge:builder-name:" + builder}, true},
		{"releng exact", []string{"project:releng:buildbot-bridge:builder-name:" + builder}, true},
		{"releng star", []string{"project:releng:buildbot-bridge:*"}, true},
		{"releng partial star", []string{"project:releng:buildbot-bridge:builder-name:release-mozilla-*"}, true},
		{"project star", []string{"project:*"}, true},
		{"other builder", []string{"buildbot-bridge:builder-name:other"}, false},
		{"prefix of the builder without star", []string{"buildbot-bridge:builder-name:release-"}, false},
		{"star in the middle is literal", []string{"buildbot-bridge:*:release-mozilla-beta-firefox_source"}, false},
		{"star in the middle of the builder", []string{"buildbot-bridge:builder-name:release-*-firefox_source"}, false},
		{"longer than the builder", []string{"buildbot-bridge:builder-name:" + builder + "-extra"}, false},
		{"unrelated scopes", []string{"queue:create-task:lowest:buildbot-bridge/buildbot-bridge", "assume:moz-tree:level:3"}, false},
		{"one of many", []string{"queue:route:index.x", "buildbot-bridge:builder-name:release-*"}, true},
		{"case matters", []string{"Buildbot-Bridge:*"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scopes.BuilderAllowed(tt.scopes, builder); got != tt.want {
				t.Errorf("BuilderAllowed(%q, %q) = %v, want %v", tt.scopes, builder, got, tt.want)
			}
		})
	}
}

func TestSatisfies(t *testing.T) {
	tests := []struct {
		have []string
		need string
		want bool
	}{
		{[]string{"a:b"}, "a:b", true},
		{[]string{"a:b"}, "a:bc", false},
		{[]string{"a:b*"}, "a:b", true},
		{[]string{"a:b*"}, "a:bcd", true},
		{[]string{"a:*"}, "a:", true},
		{[]string{"a:*"}, "b:", false},
		{[]string{"*"}, "", true},
		{[]string{""}, "", true},
		{[]string{""}, "a", false},
		{[]string{"a*b"}, "axb", false},
		{[]string{"a*b"}, "a*b", true},
		// A requested scope ending in '*' needs a star at least as wide.
		{[]string{"a:b"}, "a:*", false},
		{[]string{"a:*"}, "a:*", true},
		{nil, "a", false},
	}
	for _, tt := range tests {
		if got := scopes.Satisfies(tt.have, tt.need); got != tt.want {
			t.Errorf("Satisfies(%q, %q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}
