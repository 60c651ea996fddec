package buildbotrest

import "strings"

// masterShutdown is how a master names the stop of the builds it was
// running when it shut down (state_string "cancelled (Master Shutdown) ...").
const masterShutdown = "(Master Shutdown)"

// Interruption tells whether Buildbot ended a build, or a request without a
// build, on its own account rather than for a result of the task, and if
// so why, in words for the operator. A master that shuts down cancels its
// running builds and completes their requests, which are not re-queued;
// a request collapsed into a newer one completes SKIPPED without a build.
// Neither is anyone asking for the task to stop.
func Interruption(results int, stateString string, builds int) string {
	switch {
	case results == Cancelled && strings.Contains(stateString, masterShutdown):
		return "the Buildbot master shut down while the build ran"
	case results == Skipped && builds == 0:
		return "Buildbot collapsed the request into a newer one on the same builder (bridged builders need collapseRequests=False)"
	}
	return ""
}
