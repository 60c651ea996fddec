package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// createTaskCommand is `-create-task BUILDER`: it creates one task in the
// running demo's queue, found through <data>/demo.json, with the demo's
// scheduler credentials.
func createTaskCommand(ctx context.Context, o options, builder string) error {
	if _, err := os.Stat(filepath.Join(o.DataDir, stateFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no demo in %s: start it first (make demo)", o.DataDir)
	}
	st, err := loadState(o.DataDir)
	if err != nil {
		return err
	}
	q := queueClient(ctx, st.QueueRootURL, st.Scheduler)
	if err := q.Ping(); err != nil {
		return fmt.Errorf("the demo's queue at %s does not answer; is the demo running? (%v)", st.QueueRootURL, err)
	}
	taskID, err := createTask(q, builder, st.BuildProperties[builder])
	if err != nil {
		return err
	}
	block(o.Out,
		"created task "+taskID+" for builder "+builder,
		"  Web UI:  "+st.UIURL+"/namespaces/"+st.Namespace+"/workflows/"+signals.TaskWorkflowID(taskID),
		"  cancel:  temporal workflow signal --workflow-id "+signals.TaskWorkflowID(taskID)+" --name cancel --input '{\"reason\":\"bad push\"}' --address "+st.TemporalAddress,
		"  state:   temporal workflow query --workflow-id "+signals.TaskWorkflowID(taskID)+" --type state --address "+st.TemporalAddress)
	return nil
}
