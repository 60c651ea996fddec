package bbsim

import (
	"net/http"
	"sort"
)

// buildersPath serves the masters' builders the way Mozilla's build data
// reports did (allthethings.json): a "builders" object keyed by builder
// name, the document the bridge's allowed_builders_url reads.
const buildersPath = "/builddata/reports/allthethings.json"

// BuildersURL is where the Sim lists its builders; empty before Start or
// when Options.Builders is empty (the masters then build anything, so
// there is no list to give).
func (s *Sim) BuildersURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpBase == "" || s.builder == nil {
		return ""
	}
	return s.httpBase + buildersPath
}

func (s *Sim) serveBuilders(w http.ResponseWriter, r *http.Request) {
	if s.builder == nil {
		http.NotFound(w, r)
		return
	}
	names := make([]string, 0, len(s.builder))
	for n := range s.builder {
		names = append(names, n)
	}
	sort.Strings(names)
	builders := make(map[string]any, len(names))
	for _, n := range names {
		builders[n] = map[string]any{"slavebuilddir": s.builderDir(n)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"builders": builders})
}
