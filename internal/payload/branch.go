package payload

import (
	"net/url"
	"strings"
)

// ShortBranch is the branch as stored in the sourcestamp: a full repository
// URL (https://hg.mozilla.org/releases/mozilla-beta) becomes its path
// without leading or trailing slashes (releases/mozilla-beta); anything
// else is kept as given.
func ShortBranch(branch string) string {
	if !strings.Contains(branch, "://") {
		return branch
	}
	u, err := url.Parse(branch)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return branch
	}
	return strings.Trim(u.Path, "/")
}

// SelfServeBranch is the branch name self-serve (BuildAPI) wants in its
// URLs: the last path element of the stored branch (releases/mozilla-beta
// → mozilla-beta), as the original's branch.split("/")[-1], ignoring a
// trailing slash.
func SelfServeBranch(stored string) string {
	trimmed := strings.TrimRight(stored, "/")
	return trimmed[strings.LastIndex(trimmed, "/")+1:]
}
