package workflows

// Every release's recorded histories are replayed against today's workflow
// code, so a change that would break the workflows already running when it
// is deployed (activities, timers or upserts added, removed or reordered
// without workflow.GetVersion) fails here. Workers run with AutoUpgrade
// versioning: a running task moves to the new code at its next workflow
// task, mid-history, which is exactly what this replays.
//
// testdata/histories/<release>/ holds what the end-to-end scenarios
// recorded with that release's code, in the format `temporal workflow show
// --output json` writes:
//   - success.json: a task whose build outlasts the claim timeout (claim,
//     reclaims, artifacts, reportCompleted);
//   - retry.json: a RETRY build (reportException worker-shutdown,
//     rerunTask, the same BuildRequest built again and run 1 completed).
//
// At each release, record them with the code being released and commit the
// new folder (README, "Upgrading"):
//
//	BBB_RECORD_HISTORY=<release> go test -count=1 \
//	    -run 'TestBuildbotResultResolvesTheRun|TestRetryRebuildsTheSameBuildRequestForANewRun' ./e2e/

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	releases := map[string]bool{}
	for _, f := range files {
		releases[filepath.Base(filepath.Dir(f))] = true
	}
	// The oldest release and the one before this code at least.
	if len(releases) < 2 {
		t.Fatalf("recorded histories of %d releases (%v), want at least 2", len(releases), files)
	}
	for _, file := range files {
		rel, _ := filepath.Rel(filepath.Join("testdata", "histories"), file)
		t.Run(rel, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger, file); err != nil {
				t.Errorf("replaying %s: %v", file, err)
			}
		})
	}
}
