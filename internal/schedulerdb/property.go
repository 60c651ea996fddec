package schedulerdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// PropertySource is the source the bridge writes beside each property
// value, as the original bridge did.
const PropertySource = "bbb"

// Column limits of Buildbot 0.8's schema, in characters. MariaDB in strict
// mode rejects a longer value, in non-strict mode truncates it silently,
// and SQLite ignores the limit, so the bridge checks them itself.
const (
	maxPropertyValue = 1024 // buildset_properties.property_value
	maxVarchar       = 256  // property_name, buildername, branch, revision, reason
	maxTaskID        = 64   // bbb_tasks.task_id
)

// ErrPropertyTooLong means a property's encoded value (or its name) does
// not fit Buildbot's buildset_properties columns: for the task, a
// malformed payload.
var ErrPropertyTooLong = errors.New("property too long for Buildbot's buildset_properties")

// ErrFieldTooLong means a builder name, branch or revision does not fit its
// Buildbot column: for the task, a malformed payload.
var ErrFieldTooLong = errors.New("value too long for Buildbot's scheduler DB")

// Property is one build property in payload order.
type Property struct {
	Name  string
	Value any
}

// EncodeProperty returns what Buildbot 0.8 stores in
// buildset_properties.property_value: the JSON list [value, "bbb"], which
// the master splits with `value, source = json.loads(...)`.
//
// The encoding is ASCII-only, like Python's json.dumps: characters outside
// ASCII are written as \u escapes, so the value survives a utf8 (3-byte)
// MySQL column and any connection charset. HTML characters are not
// escaped, so that a URL counts against the limit as written. A result
// longer than 1024 characters returns an error wrapping ErrPropertyTooLong.
func EncodeProperty(value any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode([]any{value, PropertySource}); err != nil {
		return "", fmt.Errorf("encode property value: %w", err)
	}
	s := asciiJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if len(s) > maxPropertyValue {
		return "", fmt.Errorf("%w: encoded value is %d characters, Buildbot stores at most %d",
			ErrPropertyTooLong, len(s), maxPropertyValue)
	}
	return s, nil
}

// asciiJSON escapes every non-ASCII character of valid JSON. Such
// characters can only occur inside string literals, where \uXXXX (a UTF-16
// surrogate pair above U+FFFF) means the same thing.
func asciiJSON(b []byte) string {
	var out bytes.Buffer
	out.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r < utf8.RuneSelf:
			out.WriteRune(r)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String()
}

// encodeProperties checks and encodes a payload's properties and appends
// taskId, which the bridge always sets (overriding a payload's own).
func encodeProperties(props []Property, taskID string) ([][2]string, error) {
	rows := make([][2]string, 0, len(props)+1)
	for _, p := range props {
		if p.Name == "taskId" {
			continue
		}
		if n := utf8.RuneCountInString(p.Name); n > maxVarchar {
			return nil, fmt.Errorf("property %q...: %w: the name is %d characters, Buildbot stores at most %d",
				[]rune(p.Name)[:40], ErrPropertyTooLong, n, maxVarchar)
		}
		v, err := EncodeProperty(p.Value)
		if err != nil {
			return nil, fmt.Errorf("property %q: %w", p.Name, err)
		}
		rows = append(rows, [2]string{p.Name, v})
	}
	v, err := EncodeProperty(taskID)
	if err != nil {
		return nil, fmt.Errorf("property %q: %w", "taskId", err)
	}
	return append(rows, [2]string{"taskId", v}), nil
}
