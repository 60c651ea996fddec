package config_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

func TestPatternMatchesLikePythonReMatch(t *testing.T) {
	tests := []struct {
		pattern string
		name    string
		want    bool
	}{
		// The original sample's ignored_builders: everything not containing alder.
		{`^((?!alder).)*$`, "mozilla-central linux", true},
		{`^((?!alder).)*$`, "alder-foo", false},
		{`^((?!alder).)*$`, "linux alder build", false},
		{`^((?!alder).)*$`, "", true},
		// Anchored at the start only.
		{`release-`, "release-firefox", true},
		{`release-`, "pre-release-x", false},
		{`release-`, "release-x-trailing", true},
		{`^release-.*$`, "release-mozilla-beta-firefox_source", true},
		{`^release-.*$`, "Release-firefox", false},
		// An alternation is anchored as a whole, not just its first branch.
		{`foo|bar`, "bar-builder", true},
		{`foo|bar`, "a bar-builder", false},
		// The production list with a group in the lookahead.
		{`^((?!(alder|birch|-date|jamun|maple)).)*$`, "mozilla-inbound linux", true},
		{`^((?!(alder|birch|-date|jamun|maple)).)*$`, "b2g-date linux", false},
		{`^((?!(alder|birch|-date|jamun|maple)).)*$`, "maple linux", false},
		// Python-only syntax.
		{`(?P<tree>[a-z]+)-(?P=tree)`, "maple-maple nightly", true},
		{`(?P<tree>[a-z]+)-(?P=tree)`, "maple-birch nightly", false},
		{`release\Z`, "release", true},
		{`release\Z`, "release\n", false},
		{`release$`, "release\n", true},
		// Escapes and classes are left alone.
		{`\(?P<x`, "P<x", true},
		{`[(?P<]x`, "<x", true},
		{`[]a]+b`, "]ab", true},
		{`win\d+_`, "win64_vm", true},
		// Verbose mode with a comment that runs to the end of the pattern.
		{"(?x) release- # release builders", "release-firefox", true},
		{"(?x) release- # release builders", "pre-release-firefox", false},
		// Inline flags apply to the whole pattern, as in Python.
		{`(?i)release-`, "Release-firefox", true},
	}
	for _, tt := range tests {
		p, err := config.CompilePattern(tt.pattern)
		if err != nil {
			t.Errorf("CompilePattern(%q): %v", tt.pattern, err)
			continue
		}
		got, err := p.Match(tt.name)
		if err != nil {
			t.Errorf("%q.Match(%q): %v", tt.pattern, tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// A pattern that would backtrack catastrophically from a later position
// fails at position 0 at once, as Python's re.match does, instead of
// timing out.
func TestPatternFailsFastAtStart(t *testing.T) {
	p, err := config.CompilePattern(`(a+)+b`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Match("x" + strings.Repeat("a", 64))
	if err != nil || got {
		t.Errorf("Match = %v, %v; want false, nil", got, err)
	}
}

func TestCompilePatternRejectsInvalid(t *testing.T) {
	for _, src := range []string{`(abc`, `a)|(b`, `[a-`, `*x`, `(?P<n>a)(?P=m)`} {
		if _, err := config.CompilePattern(src); err == nil {
			t.Errorf("CompilePattern(%q) accepted it", src)
		} else if !strings.Contains(err.Error(), "invalid regular expression") {
			t.Errorf("CompilePattern(%q) error %q does not say what is wrong", src, err)
		}
	}
}

// A catastrophic pattern ends in an error within the timeout, never in a
// match and never in a hang.
func TestPatternTimeoutIsAnError(t *testing.T) {
	p, err := config.CompilePattern(`^(a+)+$`)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("a", 64) + "!"
	matched, err := p.Match(name)
	if err == nil {
		t.Fatalf("Match returned %v with no error", matched)
	}
	if matched {
		t.Error("a timed-out match reported a match")
	}
	if !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), `^(a+)+$`) {
		t.Errorf("error %q should name the pattern and the timeout", err)
	}

	good, err := config.CompilePattern(`^aaa`)
	if err != nil {
		t.Fatal(err)
	}
	bad := config.Patterns{p}
	if ok, err := bad.Match(name); err == nil || ok {
		t.Errorf("Patterns with only a timed-out pattern: %v, %v; want an error", ok, err)
	}
	either := config.Patterns{p, good}
	if ok, err := either.Match(name); err != nil || !ok {
		t.Errorf("Patterns where another pattern matches: %v, %v; want true", ok, err)
	}
}

func TestPatternsMatchAny(t *testing.T) {
	ps, err := config.CompilePatterns([]string{`^release-`, `.*-nightly$`})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"release-firefox":         true,
		"mozilla-central-nightly": true,
		"mozilla-central-opt":     false,
	} {
		got, err := ps.Match(name)
		if err != nil || got != want {
			t.Errorf("Match(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	var none config.Patterns
	if got, err := none.Match("anything"); got || err != nil {
		t.Errorf("empty Patterns matched: %v, %v", got, err)
	}
	if _, err := config.CompilePatterns([]string{"ok", "(bad"}); err == nil || !strings.HasPrefix(err.Error(), "[1]: ") {
		t.Errorf("CompilePatterns error %v should start with the index [1]", err)
	}
}

// Patterns travel in workflow inputs as their sources.
func TestPatternsJSONRoundTrip(t *testing.T) {
	ps, err := config.CompilePatterns([]string{`^((?!alder).)*$`, `^release-.*$`})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `["^((?!alder).)*$","^release-.*$"]` {
		t.Errorf("encoded as %s", data)
	}
	var back config.Patterns
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"release-alder": true, "alder-linux": false, "linux": true} {
		if ok, err := back.Match(name); err != nil || ok != want {
			t.Errorf("decoded patterns: Match(%q) = %v, %v; want %v", name, ok, err, want)
		}
	}
	if err := json.Unmarshal([]byte(`["(bad"]`), &back); err == nil {
		t.Error("decoding an invalid pattern succeeded")
	}
}

func TestPatternConcurrentUse(t *testing.T) {
	p, err := config.CompilePattern(`^((?!alder).)*$`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				name := "linux build"
				if (i+j)%2 == 0 {
					name = "alder build"
				}
				got, err := p.Match(name)
				if err != nil || got != (name == "linux build") {
					t.Errorf("Match(%q) = %v, %v", name, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
