package workflows

// Histories recorded from real runs on the embedded Temporal server are
// replayed against today's workflow code, so a change that would break the
// workflows already running in production (a non-deterministic change:
// activities, timers or upserts added, removed or reordered without
// workflow.GetVersion) fails here.
//
// The histories are written by the end-to-end scenarios (e2e package) in
// the format `temporal workflow show --output json` writes. To record them
// again, on purpose, after a change that is versioned or that no running
// workflow can meet:
//
//	BBB_RECORD_HISTORY=1 go test -count=1 \
//	    -run 'TestBuildbotResultResolvesTheRun|TestRetryRebuildsTheSameBuildRequestForANewRun' ./e2e/
//
// testdata/history_success.json: a task whose build outlasts the claim
// timeout (claim, reclaims, artifacts, reportCompleted).
// testdata/history_retry.json: a RETRY build (reportException
// worker-shutdown, rerunTask, the same BuildRequest built again and run 1
// completed).

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

func TestRecordedHistoriesReplay(t *testing.T) {
	for _, file := range []string{"history_success.json", "history_retry.json"} {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger, filepath.Join("testdata", file)); err != nil {
				t.Errorf("replaying %s: %v", file, err)
			}
		})
	}
}
