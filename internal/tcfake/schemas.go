package tcfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The queue's own JSON schemas, copied from the Taskcluster module's
// generated/references.json so that the stand-in validates input exactly as
// the real queue does without needing the module cache at run time.
// TestEmbeddedSchemasMatchUpstream keeps the copy honest.
//
//go:generate go run ./internal/schemagen
//go:embed schemas/queue-v1.json
var embeddedSchemas []byte

// schemaBase is an arbitrary absolute base: the schemas' $ids are
// root-relative ("/schemas/queue/v1/task.json#").
const schemaBase = "https://tcfake.invalid"

// SchemaSet validates JSON documents against Taskcluster's rendered schemas.
type SchemaSet struct {
	compiled map[string]*jsonschema.Schema
}

type referenceEntry struct {
	Filename string          `json:"filename"`
	Content  json.RawMessage `json:"content"`
}

// LoadSchemaSet compiles every schemas/... entry of a references.json-style
// array ([{filename, content}]). Tests use it on the upstream file to check
// what the stand-in sends.
func LoadSchemaSet(referencesJSON []byte) (*SchemaSet, error) {
	var entries []referenceEntry
	if err := json.Unmarshal(referencesJSON, &entries); err != nil {
		return nil, fmt.Errorf("tcfake: parse references: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var ids []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Filename, "schemas/") {
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Content))
		if err != nil {
			return nil, fmt.Errorf("tcfake: schema %s: %w", e.Filename, err)
		}
		id := "/" + e.Filename
		if m, ok := doc.(map[string]any); ok {
			if s, ok := m["$id"].(string); ok {
				id = strings.TrimSuffix(s, "#")
			}
			// Taskcluster's metaschema "is simply a reference to the
			// draft-06 JSON-schema"; the compiler only resolves absolute
			// $schema URLs, so name draft-06 directly.
			if m["$schema"] == "/schemas/common/metaschema.json#" {
				m["$schema"] = "http://json-schema.org/draft-06/schema#"
			}
		}
		if err := c.AddResource(schemaBase+id, doc); err != nil {
			return nil, fmt.Errorf("tcfake: schema %s: %w", e.Filename, err)
		}
		ids = append(ids, id)
	}
	set := &SchemaSet{compiled: map[string]*jsonschema.Schema{}}
	for _, id := range ids {
		if !strings.HasPrefix(id, "/schemas/queue/") {
			continue
		}
		sch, err := c.Compile(schemaBase + id)
		if err != nil {
			return nil, fmt.Errorf("tcfake: compile %s: %w", id, err)
		}
		set.compiled[id] = sch
	}
	return set, nil
}

// Validate checks doc (raw JSON) against the queue schema called name, e.g.
// "task-status-response" for /schemas/queue/v1/task-status-response.json.
func (s *SchemaSet) Validate(name string, doc []byte) error {
	sch, ok := s.compiled["/schemas/queue/v1/"+name+".json"]
	if !ok {
		return fmt.Errorf("tcfake: no queue schema %q", name)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(v)
}

func embeddedSchemaSet() (*SchemaSet, error) {
	return LoadSchemaSet(embeddedSchemas)
}
