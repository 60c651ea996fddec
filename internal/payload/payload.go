// Package payload validates and reads a bridge task's payload against the
// original bridge's schema (bbb/schemas/payload.yml, JSON Schema draft-04,
// embedded here as payload.schema.json).
package payload

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// SchemaID is the schema's id, as published by the original bridge.
const SchemaID = "http://schemas.taskcluster.net/buildbot-bridge/v1/payload.json"

//go:embed payload.schema.json
var schemaJSON []byte

// schema is compiled once; a compiled Schema is safe for concurrent use.
var schema = mustCompile()

func mustCompile() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic("payload: embedded schema is not JSON: " + err.Error())
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(SchemaID, doc); err != nil {
		panic("payload: embedded schema: " + err.Error())
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		panic("payload: embedded schema does not compile: " + err.Error())
	}
	return s
}

// Payload is a valid task payload.
type Payload struct {
	// BuilderName is the Buildbot builder to run.
	BuilderName string `json:"buildername"`
	// Properties are the buildset properties as the task gave them, always
	// including "product". Numbers are json.Number, so that they are written
	// back exactly as the task's author wrote them; objects, lists, booleans
	// and nulls keep their JSON types.
	Properties map[string]any `json:"properties"`
	// Sourcestamp is nil when the payload has none.
	Sourcestamp *Sourcestamp `json:"sourcestamp,omitempty"`
}

// Sourcestamp is the payload's sourcestamp. Branch is as given (possibly a
// full URL); store ShortBranch(Branch).
type Sourcestamp struct {
	Branch     string `json:"branch"`
	Revision   string `json:"revision,omitempty"`
	Repository string `json:"repository,omitempty"`
	Project    string `json:"project,omitempty"`
}

// Error is a payload that does not satisfy the schema. Its message is one
// paragraph listing every problem, meant for the task's author.
type Error struct {
	// Problems are the individual findings, sorted, each "<JSON pointer>:
	// <what is wrong>" (or just what is wrong, for the payload as a whole).
	Problems []string
}

func (e *Error) Error() string {
	return "payload: " + strings.Join(e.Problems, "; ")
}

// Parse validates raw against the schema and returns its contents.
func Parse(raw json.RawMessage) (*Payload, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &Error{Problems: []string{"not valid JSON: " + jsonProblem(err)}}
	}
	if err := schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, &Error{Problems: problems(ve)}
		}
		return nil, &Error{Problems: []string{err.Error()}}
	}
	// The schema guarantees every shape asserted below.
	obj := inst.(map[string]any)
	p := &Payload{
		BuilderName: obj["buildername"].(string),
		Properties:  obj["properties"].(map[string]any),
	}
	if ss, ok := obj["sourcestamp"].(map[string]any); ok {
		str := func(k string) string { s, _ := ss[k].(string); return s }
		p.Sourcestamp = &Sourcestamp{
			Branch:     str("branch"),
			Revision:   str("revision"),
			Repository: str("repository"),
			Project:    str("project"),
		}
	}
	return p, nil
}

// RawBuilderName returns the payload's buildername even when the rest of
// the payload is invalid (the ignored-builders check comes before
// validation), or "" when the payload is not an object or buildername is
// missing or not a string.
func RawBuilderName(raw json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return ""
	}
	var name string
	if json.Unmarshal(obj["buildername"], &name) != nil {
		return ""
	}
	return name
}

// problems flattens a validation error into its leaves, each located by
// the JSON pointer of the offending value.
func problems(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		msg := describe(e)
		if loc := pointer(e.InstanceLocation); loc != "" {
			msg = loc + ": " + msg
		}
		out = append(out, msg)
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// describe words the findings this schema can produce for a person; any
// other kind falls back to the library's own wording.
func describe(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) == 1 {
			return fmt.Sprintf("missing property %q", k.Missing[0])
		}
		return "missing properties " + quoteAll(k.Missing)
	case *kind.AdditionalProperties:
		if len(k.Properties) == 1 {
			return fmt.Sprintf("property %q is not allowed", k.Properties[0])
		}
		return "properties " + quoteAll(k.Properties) + " are not allowed"
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", article(strings.Join(k.Want, " or ")), k.Got)
	case *kind.MinLength:
		unit := "characters"
		if k.Want == 1 {
			unit = "character"
		}
		return fmt.Sprintf("must be at least %d %s long, got %d", k.Want, unit, k.Got)
	}
	// Error() of a leaf is "at '<pointer>': <message>"; keep the message.
	msg := e.Error()
	if _, after, ok := strings.Cut(msg, "': "); ok {
		return after
	}
	return msg
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// pointer renders an instance location as a JSON pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// jsonProblem keeps the decoder's explanation on one line.
func jsonProblem(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
