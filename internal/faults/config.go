package faults

import (
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// identity names the fault deployments' worker pool, scheduler and
// clients.
var identity = localdeploy.NewIdentity("faults")

// Timing of every fault deployment. The claim timeout is short so that
// builds lasting tens of seconds are reclaimed during the run (at
// takenUntil − claim/3), which is what a claim-expired check needs to mean
// anything; production's 20 minutes would never reclaim in a run this short.
const (
	claimTimeout = 90 * time.Second
	// reflectorInterval is the sweep's, and how often a not-yet-started
	// task looks at its BuildRequest.
	reflectorInterval = 5 * time.Second
	// finishedGrace is how long a complete BuildRequest waits for its
	// log_uploaded.
	finishedGrace = 10 * time.Second
)
