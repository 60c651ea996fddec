package buildbot3

import (
	"fmt"
	"time"
)

// buildPhase is how far every running build must have gone before the
// helper kills the worker or stops the master: what Buildbot makes of the
// build depends on it.
type buildPhase int

const (
	// pastPreparation: a step after the worker's preparation has started.
	// Buildbot 3.7 wedges a build whose worker is lost while it prepares
	// the worker (an AttributeError in the master): the build and its
	// request never finish, and no stop can end them.
	pastPreparation buildPhase = iota
	// inStep: a step after preparation has been running for a second. A
	// clean master shutdown cancels the step and the build ends CANCELLED;
	// caught between two steps the build ends RETRY instead.
	inStep
)

func (m *Master) waitBuilds(phase buildPhase) error {
	deadline := time.Now().Add(startTimeout)
	for {
		behind, err := m.buildsBehind(phase)
		if err == nil && behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("buildbot3: %d running builds not yet in a step after %s (%v)", behind, startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildsBehind counts the running builds that have not reached phase.
func (m *Master) buildsBehind(phase buildPhase) (int, error) {
	var builds struct {
		Builds []struct {
			ID int64 `json:"buildid"`
		} `json:"builds"`
	}
	if err := apiGet(m.APIURL()+"api/v2/builds?complete=false", &builds); err != nil {
		return 0, err
	}
	// started_at has whole seconds: two back is at least one ago.
	settled := time.Now().Unix() - 2
	behind := 0
	for _, b := range builds.Builds {
		var steps struct {
			Steps []struct {
				Number    int    `json:"number"`
				StartedAt *int64 `json:"started_at"`
				Complete  bool   `json:"complete"`
			} `json:"steps"`
		}
		if err := apiGet(fmt.Sprintf("%sapi/v2/builds/%d/steps", m.APIURL(), b.ID), &steps); err != nil {
			return 0, err
		}
		reached := false
		for _, s := range steps.Steps {
			if s.Number < 1 || s.StartedAt == nil {
				continue
			}
			switch phase {
			case pastPreparation:
				reached = true
			case inStep:
				reached = reached || !s.Complete && *s.StartedAt <= settled
			}
		}
		if !reached {
			behind++
		}
	}
	return behind, nil
}
