package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
)

// object is one JSON object of the config file, decoded one level at a time
// so that an unknown key (a warning) can be told apart from a known key with
// a value of the wrong type (an error naming the key).
type object struct {
	path   string // "" for the top level, else e.g. "tclistener"
	fields map[string]json.RawMessage
}

// newObject decodes raw as the object at path and warns at once about every
// key not in known, so that a misspelt key is reported even when a later
// value stops the load.
func newObject(log *slog.Logger, path string, raw json.RawMessage, known ...string) (*object, error) {
	if k := kind(raw); k != "object" {
		if path == "" {
			return nil, fmt.Errorf("config: expected a JSON object at the top level, got %s", k)
		}
		return nil, typeError(path, "an object", raw)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("config: %s: %v", displayPath(path), err)
	}
	o := &object{path: path, fields: fields}
	var unknown []string
	for k := range fields {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		log.Warn("config: unknown key "+o.key(k)+" ignored", "key", o.key(k))
	}
	return o, nil
}

// key returns the full dotted path of key in this object.
func (o *object) key(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// raw returns the value of key. A JSON null counts as absent, as an unset
// key did for the original's Python code.
func (o *object) raw(key string) (json.RawMessage, bool) {
	v, ok := o.fields[key]
	if !ok || kind(v) == "null" {
		return nil, false
	}
	return v, true
}

// ignore logs a notice when key, known but no longer used, is present.
func (o *object) ignore(log *slog.Logger, key, why string) {
	if _, ok := o.raw(key); ok {
		log.Info("config: "+o.key(key)+" is accepted and ignored: "+why, "key", o.key(key))
	}
}

func (o *object) str(key string) (string, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if kind(v) != "string" || json.Unmarshal(v, &s) != nil {
		return "", false, typeError(o.key(key), "a string", v)
	}
	return s, true, nil
}

func (o *object) strList(key string) ([]string, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return nil, false, nil
	}
	if kind(v) != "array" {
		return nil, false, typeError(o.key(key), "a list of strings", v)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, false, fmt.Errorf("config: %s: %v", o.key(key), err)
	}
	out := make([]string, len(items))
	for i, item := range items {
		if kind(item) != "string" || json.Unmarshal(item, &out[i]) != nil {
			return nil, false, typeError(fmt.Sprintf("%s[%d]", o.key(key), i), "a string", item)
		}
	}
	return out, true, nil
}

// maxSeconds keeps a number of seconds inside time.Duration's range.
const maxSeconds = float64(math.MaxInt64/int64(time.Second)) - 1

// seconds reads a positive number of seconds (integer or fractional) as a
// duration, or def when the key is absent.
func (o *object) seconds(key string, def time.Duration) (time.Duration, error) {
	v, ok := o.raw(key)
	if !ok {
		return def, nil
	}
	var n float64
	if kind(v) != "number" || json.Unmarshal(v, &n) != nil {
		return 0, typeError(o.key(key), "a number of seconds", v)
	}
	if n <= 0 {
		return 0, fmt.Errorf("config: %s: must be a positive number of seconds, got %s", o.key(key), v)
	}
	if n > maxSeconds {
		return 0, fmt.Errorf("config: %s: %s seconds is too large", o.key(key), v)
	}
	d := time.Duration(n * float64(time.Second))
	if d < time.Millisecond {
		return 0, fmt.Errorf("config: %s: %s seconds is less than a millisecond", o.key(key), v)
	}
	return d, nil
}

// maxCount keeps counts to what a 32-bit int holds.
const maxCount = math.MaxInt32

// count reads a whole number of at least min, or def when the key is
// absent.
func (o *object) count(key string, def, min int) (int, error) {
	v, ok := o.raw(key)
	if !ok {
		return def, nil
	}
	var n float64
	if kind(v) != "number" || json.Unmarshal(v, &n) != nil {
		return 0, typeError(o.key(key), "a whole number", v)
	}
	if n != math.Trunc(n) {
		return 0, fmt.Errorf("config: %s: must be a whole number, got %s", o.key(key), v)
	}
	if n < float64(min) {
		return 0, fmt.Errorf("config: %s: must be at least %d, got %s", o.key(key), min, v)
	}
	if n > maxCount {
		return 0, fmt.Errorf("config: %s: %s is too large", o.key(key), v)
	}
	return int(n), nil
}

// child returns the nested object under key, or an empty one when absent,
// so that defaults apply the same way to a missing section.
func (o *object) child(log *slog.Logger, key string, known ...string) (*object, error) {
	v, ok := o.raw(key)
	if !ok {
		return &object{path: o.key(key), fields: map[string]json.RawMessage{}}, nil
	}
	return newObject(log, o.key(key), v, known...)
}

// kind names the JSON type of a raw value the way error messages show it.
func kind(v json.RawMessage) string {
	s := strings.TrimLeft(string(v), " \t\r\n")
	if s == "" {
		return "nothing"
	}
	switch s[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// typeError never quotes the value: the key might be a secret's.
func typeError(path, want string, got json.RawMessage) error {
	return fmt.Errorf("config: %s: expected %s, got %s", path, want, kind(got))
}

func displayPath(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// syntaxError turns encoding/json's offset into a line and column, without
// echoing the surrounding text (it may be a secret).
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("config: invalid JSON: %v", err)
	}
	line, col := 1, 1
	for _, b := range data[:min(int(se.Offset), len(data))] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("config: invalid JSON at line %d, column %d: %v", line, col, se)
}
