package activities

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// orderedProperties reads payload.properties in the order the task's author
// wrote them, each value as its raw JSON, so that what reaches Buildbot is
// what the task said (numbers are not turned into floats, key order is
// kept). A key given twice keeps its first position and its last value,
// as Python's json.loads did for the original bridge.
func orderedProperties(rawPayload json.RawMessage) ([]Property, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rawPayload, &top); err != nil {
		return nil, err
	}
	raw, ok := top["properties"]
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("properties is not an object")
	}
	var props []Property
	index := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected %v in properties", tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("property %q: %w", name, err)
		}
		if i, seen := index[name]; seen {
			props[i].Value = value
			continue
		}
		index[name] = len(props)
		props = append(props, Property{Name: name, Value: value})
	}
	return props, nil
}
