// Package scopes checks a task's scopes the way Taskcluster does, for the
// restricted-builders rule: a builder matching restricted_builders may only
// be used by a task holding a scope for it.
package scopes

import "strings"

// Prefixes of the scopes that allow a restricted builder, as the original
// bridge checked them; either one is enough.
const (
	BuilderScopePrefix       = "buildbot-bridge:builder-name:"
	RelengBuilderScopePrefix = "project:releng:buildbot-bridge:builder-name:"
)

// Satisfies reports whether the scopes in have satisfy need with
// Taskcluster's semantics: an exact match, or a scope ending in '*' whose
// text before the '*' is a prefix of need. A '*' anywhere else is an
// ordinary character.
func Satisfies(have []string, need string) bool {
	for _, h := range have {
		if h == need {
			return true
		}
		if prefix, ok := strings.CutSuffix(h, "*"); ok && strings.HasPrefix(need, prefix) {
			return true
		}
	}
	return false
}

// BuilderScopes are the scopes that each allow the task to use builder.
func BuilderScopes(builder string) []string {
	return []string{BuilderScopePrefix + builder, RelengBuilderScopePrefix + builder}
}

// BuilderAllowed reports whether a task with taskScopes may use the
// restricted builder.
func BuilderAllowed(taskScopes []string, builder string) bool {
	for _, need := range BuilderScopes(builder) {
		if Satisfies(taskScopes, need) {
			return true
		}
	}
	return false
}
