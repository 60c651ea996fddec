package pulsemsg

import (
	"encoding/json"
	"fmt"
	"sort"
)

// MaxPropertiesBytes bounds the build properties one build-finished signal
// carries (JSON-encoded). Temporal refuses a payload over 2 MB and every
// signal stays in the task's history; Buildbot puts no bound on a
// property, so a build that stored, say, a whole test report in one must
// not make its task's result undeliverable.
const MaxPropertiesBytes = 256 << 10

// keptProperties are never shortened: the bridge itself reads them.
var keptProperties = map[string]bool{"request_ids": true, "log_url": true, "taskId": true}

// limitProperties replaces the values of the largest properties with a
// note saying so, until the whole fits max, and returns their names in
// the order replaced. The property's name and source stay, so
// public/properties.json still shows that it existed.
func limitProperties(props map[string][2]any, max int) []string {
	type sized struct {
		name string
		size int
	}
	var all []sized
	total := 2 // {}
	for name, p := range props {
		n := encodedSize(name, p)
		total += n + 1
		all = append(all, sized{name, n})
	}
	if total <= max {
		return nil
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].size != all[j].size {
			return all[i].size > all[j].size
		}
		return all[i].name < all[j].name
	})
	var omitted []string
	for _, s := range all {
		if total <= max {
			break
		}
		if keptProperties[s.name] {
			continue
		}
		p := props[s.name]
		short := [2]any{fmt.Sprintf("(omitted by the buildbot bridge: %d bytes, over the %d-byte limit for all properties)", s.size, max), p[1]}
		props[s.name] = short
		total += encodedSize(s.name, short) - s.size
		omitted = append(omitted, s.name)
	}
	return omitted
}

// encodedSize is what "name":[value,source] takes in the signal's JSON.
func encodedSize(name string, p [2]any) int {
	b, err := json.Marshal(map[string][2]any{name: p})
	if err != nil {
		// Decoded from JSON, so it encodes; count it as nothing rather
		// than fail the event.
		return 0
	}
	return len(b) - 2
}

// LimitProperties shortens props in place to fit MaxPropertiesBytes, as
// the Pulse decoder does, for events that arrive some other way (modern
// Buildbot's pushes), and returns the names of the values replaced.
func LimitProperties(props map[string][2]any) []string {
	return limitProperties(props, MaxPropertiesBytes)
}
