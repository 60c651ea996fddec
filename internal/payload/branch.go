package payload

import "strings"

// ShortBranch is the branch as stored in the sourcestamp, computed exactly
// as the original bridge did (bbb/services.py createSourceStamp):
// trailing slashes are dropped, and a branch containing "://" is replaced
// by Python 2's urlparse(branch).path without leading or trailing slashes
// (https://hg.mozilla.org/releases/mozilla-beta → releases/mozilla-beta).
// Anything else, even text that is neither a URL nor a path ("a b c",
// "::"), is stored as given.
func ShortBranch(branch string) string {
	branch = strings.TrimRight(branch, "/")
	if !strings.Contains(branch, "://") {
		return branch
	}
	return strings.Trim(pythonURLPath(branch), "/")
}

// usesParams are the schemes whose last path segment Python 2's urlparse
// splits at ';' (urlparse.uses_params).
var usesParams = map[string]bool{
	"": true, "ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true, "https": true,
	"shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true,
}

// pythonURLPath is Python 2.7's urlparse.urlparse(s).path: the raw text,
// not percent-decoded, so that the stored branch is what the original
// stored, byte for byte.
func pythonURLPath(s string) string {
	scheme := ""
	if i := strings.IndexByte(s, ':'); i > 0 && isSchemeText(s[:i]) && !allDigits(s[i+1:]) {
		scheme, s = strings.ToLower(s[:i]), s[i+1:]
	}
	if strings.HasPrefix(s, "//") {
		s = s[2:]
		end := strings.IndexAny(s, "/?#")
		if end < 0 {
			return ""
		}
		s = s[end:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if usesParams[scheme] && strings.Contains(s, ";") {
		from := max(strings.LastIndexByte(s, '/'), 0)
		if i := strings.IndexByte(s[from:], ';'); i >= 0 {
			s = s[:from+i]
		}
	}
	return s
}

func isSchemeText(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// allDigits is Python's check that "path:123" is a port, not a scheme; an
// empty rest is not a port.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SelfServeBranch is the branch name self-serve (BuildAPI) wants in its
// URLs: the last path element of the stored branch (releases/mozilla-beta
// → mozilla-beta), as the original's branch.split("/")[-1], ignoring a
// trailing slash.
func SelfServeBranch(stored string) string {
	trimmed := strings.TrimRight(stored, "/")
	return trimmed[strings.LastIndex(trimmed, "/")+1:]
}
