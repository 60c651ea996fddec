package pulsemsg_test

import (
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
)

// The decoders see whatever a queue delivers. Each fuzz target only checks
// that no input panics and that an accepted message satisfies the invariants
// the starter relies on.

func FuzzDecodeTaskMessages(f *testing.F) {
	for _, s := range []string{pendingNewTask, pendingRerun, exceptionCanceled, exceptionDeadlineRun2, `{}`, `null`, `{"status":{"taskId":"a","runs":[{}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if p, err := pulsemsg.DecodeTaskPending(body); err == nil && (p.TaskID == "" || p.RunID < 0) {
			t.Errorf("accepted pending %+v", p)
		}
		if e, err := pulsemsg.DecodeTaskException(body); err == nil && (e.TaskID == "" || e.RunID < 0) {
			t.Errorf("accepted exception %+v", e)
		}
	})
}

func FuzzDecodeBuildMessages(f *testing.F) {
	for _, s := range []string{startedMerged, startedNoTaskID, logUploaded, `{}`, `{"payload":{"build":{"properties":[[]]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if s, err := pulsemsg.DecodeBuildStarted(body); err == nil {
			if s.Master == "" || s.BuilderName == "" {
				t.Errorf("accepted started %+v", s)
			}
			for _, id := range s.RequestIDs {
				if id <= 0 {
					t.Errorf("accepted request id %d", id)
				}
			}
		}
		if e, err := pulsemsg.DecodeLogUploaded(body); err == nil {
			if e.Master == "" || e.BuilderName == "" || e.Properties == nil {
				t.Errorf("accepted log_uploaded %+v", e)
			}
		}
	})
}
