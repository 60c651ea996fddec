package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// PatternMatchTimeout bounds one pattern match, so that a pathological
// pattern cannot hang the task workflow's validation; running out is an
// error (the activity retries), never a match. regexp2 measures it with a
// coarse wall clock, so on a loaded machine a plain match of a short name
// was seen to overrun 100 ms: a second leaves ample room and still stops a
// runaway backtrack.
const PatternMatchTimeout = time.Second

// Pattern is one of the original's builder regexes (restricted_builders,
// ignored_builders), applied like Python's re.match: anchored at the start
// of the builder name only. It supports the lookaheads the original's
// sample used (^((?!alder).)*$), which Go's regexp cannot.
//
// A Pattern JSON-encodes as its source, so it can travel in workflow
// inputs.
type Pattern struct {
	source string
	re     *regexp2.Regexp
}

// CompilePattern compiles a Python regex. Python-only syntax is translated:
// (?P<name>...) groups, (?P=name) back-references and \Z.
func CompilePattern(source string) (Pattern, error) {
	translated := translatePython(source)
	// Compiling the source on its own first rejects an unbalanced ')',
	// which the wrapping below would otherwise turn into a different,
	// valid pattern.
	if _, err := regexp2.Compile(translated, regexp2.None); err != nil {
		return Pattern{}, fmt.Errorf("invalid regular expression: %v", err)
	}
	// \A(?:...) anchors at the start only, as re.match does, and lets a
	// failed match stop at position 0 instead of trying every later one.
	re, err := regexp2.Compile(`\A(?:`+translated+`)`, regexp2.None)
	if err != nil {
		// A balanced source fails here only when a (?x) comment runs to its
		// end and swallows the ')'; in that mode a newline ends the comment
		// and is otherwise ignored.
		re, err = regexp2.Compile(`\A(?:`+translated+"\n)", regexp2.None)
		if err != nil {
			return Pattern{}, fmt.Errorf("invalid regular expression: %v", err)
		}
	}
	re.MatchTimeout = PatternMatchTimeout
	return Pattern{source: source, re: re}, nil
}

// String returns the pattern as written in the config.
func (p Pattern) String() string { return p.source }

// Match reports whether the pattern matches at the start of name, as
// Python's re.match did.
func (p Pattern) Match(name string) (bool, error) {
	if p.re == nil {
		return false, errors.New("builder pattern was never compiled")
	}
	ok, err := p.re.MatchString(name)
	if err != nil {
		return false, fmt.Errorf("builder pattern %q: %w", p.source, err)
	}
	return ok, nil
}

// MarshalJSON encodes the pattern's source.
func (p Pattern) MarshalJSON() ([]byte, error) { return json.Marshal(p.source) }

// UnmarshalJSON compiles the encoded source.
func (p *Pattern) UnmarshalJSON(data []byte) error {
	var source string
	if err := json.Unmarshal(data, &source); err != nil {
		return err
	}
	compiled, err := CompilePattern(source)
	if err != nil {
		return err
	}
	*p = compiled
	return nil
}

// Patterns is a list of builder patterns, such as restricted_builders.
type Patterns []Pattern

// CompilePatterns compiles each source; the error names the index.
func CompilePatterns(sources []string) (Patterns, error) {
	out := make(Patterns, 0, len(sources))
	for i, s := range sources {
		p, err := CompilePattern(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Match reports whether any pattern matches name. A pattern that times out
// makes the answer an error unless another pattern matches.
func (ps Patterns) Match(name string) (bool, error) {
	var firstErr error
	for _, p := range ps {
		ok, err := p.Match(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ok {
			return true, nil
		}
	}
	return false, firstErr
}

// Sources returns the patterns as written.
func (ps Patterns) Sources() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.source
	}
	return out
}

// translatePython rewrites the Python-only parts of a regex into the .NET
// syntax regexp2 understands, leaving escapes and character classes alone.
func translatePython(src string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src):
			// Python's \Z is the very end; .NET's \Z also allows a final
			// newline, and .NET's \z is Python's \Z.
			if !inClass && src[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteString(src[i : i+2])
			}
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
		case c == '[':
			inClass = true
			b.WriteByte(c)
			// A ']' first in a class is a literal in Python.
			if strings.HasPrefix(src[i+1:], "^") {
				b.WriteByte('^')
				i++
			}
			if strings.HasPrefix(src[i+1:], "]") {
				b.WriteByte(']')
				i++
			}
		case strings.HasPrefix(src[i:], "(?P<"):
			b.WriteString("(?<")
			i += len("(?P<") - 1
		case strings.HasPrefix(src[i:], "(?P="):
			end := strings.IndexByte(src[i:], ')')
			if end < 0 {
				// Unterminated: leave it for the compiler to reject.
				b.WriteString(src[i:])
				return b.String()
			}
			b.WriteString(`\k<` + src[i+len("(?P="):i+end] + `>`)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
