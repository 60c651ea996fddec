package workflows

// Changes to the task workflow, each behind a workflow.GetVersion named
// after it, so that histories recorded before the change still replay.
const (
	// versionCancelRequest: a cancel request becomes an operator cancel
	// instead of cancelling the work's context.
	versionCancelRequest = "cancel-request-as-operator-cancel"
	// versionOperatorCancelEnds: an operator cancel ends in PhaseCancelled
	// and, while TC's cancel is already being carried out, adds nothing.
	versionOperatorCancelEnds = "operator-cancel-ends-cancelled"
	// versionInterruptedReruns: a request Buildbot ended without a result
	// for the task (a master shutdown cancelled its build, or it was
	// collapsed into another) ends the run worker-shutdown and gives the
	// next run a new request, instead of cancelling the task.
	versionInterruptedReruns = "interrupted-request-reruns"
	// versionBuildResultArtifact: a run resolved or rerun from its
	// BuildRequest row (a lost finished event, an interrupted request)
	// gets public/build-result.json, where it used to get no artifact.
	versionBuildResultArtifact = "build-result-artifact"
	// versionRetryOnExpiredClaim: a RETRY whose worker-shutdown TC refuses
	// (409: the claim expired while the build ran, and TC made a newer
	// pending run) carries on with that run, where the workflow used to
	// end and leave it pending for good.
	versionRetryOnExpiredClaim = "retry-on-expired-claim"
	// versionReclaimDuringTCRetries: a call reporting on a claimed run
	// that TC has not answered by the reclaim time stops there, the claim
	// is renewed and the call made again, where the call used to retry
	// until the claim expired.
	versionReclaimDuringTCRetries = "reclaim-during-tc-retries"
	// versionArtifactsFollowNewerRun: when the claim was lost while the
	// artifacts were attached and the reclaim took TC's newer run, the
	// artifacts are attached to that run too, where the newer run used to
	// be resolved without them. Recorded only when it happens.
	versionArtifactsFollowNewerRun = "artifacts-follow-newer-run"
	// versionRebuildMeansRetry: a build that starts for the BuildRequest
	// while the one before it has not finished means Buildbot retried that
	// one; the run ends worker-shutdown and the new build is the next
	// run's, where the new build used to be taken as the same run's and
	// the late RETRY event was dropped. Recorded only when it happens.
	versionRebuildMeansRetry = "rebuild-means-retry"
	// versionEventsTogether: the loop takes every signal that has reached
	// the workflow before it handles the first, and writes search
	// attributes and memo, and sets its timer, only once none is left,
	// where it used to write and set them between one event and the next.
	// Upserts made in one workflow task show together when it completes,
	// so the earlier ones were never seen, and a timer set between two
	// events was cancelled by the second; each was a billed action (a
	// build whose started and finished events come together cost a
	// search-attribute upsert and a reclaim timer for nothing).
	versionEventsTogether = "handle-waiting-events-together"
)
