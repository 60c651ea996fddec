package payload_test

import (
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
)

// What the original stored, i.e. Python 2.7's
// b = branch.rstrip("/"); urlparse(b).path.strip("/") if "://" in b else b.
func TestShortBranchAsTheOriginal(t *testing.T) {
	tests := map[string]string{
		"a b c":                                 "a b c",
		"::":                                    "::",
		"releases/mozilla-beta/":                "releases/mozilla-beta",
		"///":                                   "",
		"https://hg.mozilla.org/a%20b/c?x=1#f":  "a%20b/c",
		"https://hg.mozilla.org":                "",
		"https://hg.mozilla.org/x;p=1":          "x",
		"ssh://hg.mozilla.org/x;p=1":            "x;p=1",
		"file:///builds/hg/mozilla-central":     "builds/hg/mozilla-central",
		"a b://hg.mozilla.org/releases/x":       "a b://hg.mozilla.org/releases/x",
		"://hg.mozilla.org/x":                   "://hg.mozilla.org/x",
		"HTTPS://hg.mozilla.org/projects/maple": "projects/maple",
	}
	for in, want := range tests {
		if got := payload.ShortBranch(in); got != want {
			t.Errorf("ShortBranch(%q) = %q, want %q", in, got, want)
		}
	}
}
