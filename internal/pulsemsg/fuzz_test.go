package pulsemsg_test

import (
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
)

// The decoders see whatever a queue delivers. Each fuzz target only checks
// that no input panics and that an accepted message satisfies the invariants
// the starter relies on.

func FuzzDecodeTaskMessages(f *testing.F) {
	for _, s := range []string{pendingNewTask, pendingRerun, exceptionCanceled, exceptionDeadlineRun2, `{}`, `null`, `{"status":{"taskId":"a","runs":[{}]}}`,
		// A claim-expired retry: run 1 pending after run 0's exception, no "task".
		`{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","provisionerId":"buildbot-bridge","workerType":"buildbot-bridge","schedulerId":"-","taskGroupId":"fN1SbArXTPSVFNUvaOlinQ","deadline":"2017-10-04T16:11:14.000Z","expires":"2018-10-04T16:11:14.000Z","retriesLeft":4,"state":"pending","runs":[{"runId":0,"state":"exception","reasonCreated":"scheduled","reasonResolved":"claim-expired","workerGroup":"buildbot-bridge","workerId":"buildbot-bridge","takenUntil":"2017-10-03T16:31:15.000Z","scheduled":"2017-10-03T16:11:15.012Z","started":"2017-10-03T16:11:16.000Z","resolved":"2017-10-03T16:31:16.000Z"},{"runId":1,"state":"pending","reasonCreated":"retry","scheduled":"2017-10-03T16:31:16.000Z"}]},"runId":1}`,
		// A task-exception whose run has no reasonResolved, and a runId past the runs.
		`{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","state":"exception","runs":[{"runId":0,"state":"exception"}]},"runId":0,"task":{"tags":{}},"workerGroup":"g","workerId":"w"}`,
		`{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[]},"runId":3}`,
		`{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]},"runId":-1}`,
	} {
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
	for _, s := range []string{startedMerged, startedNoTaskID, logUploaded, `{}`, `{"payload":{"build":{"properties":[[]]}}}`,
		// REFERENCE §C's log_uploaded properties, request_times keyed by brid.
		`{"payload":{"build":{"builderName":"WINNT 5.2 mozilla-beta build","number":7,"results":0,"properties":[["buildername","WINNT 5.2 mozilla-beta build","Builder"],["log_url","http://ftp.example.com/x.txt.gz","postrun.py"],["product","firefox","bbb"],["request_ids",[4711,4712],"postrun.py"],["request_times",{"4711":1500000000},"postrun.py"],["taskId","fN1SbArXTPSVFNUvaOlinQ","bbb"]]}},"_meta":{"master_name":"bm01","master_incarnation":"pid1-boot2","message_id":"m","exchange":"exchange/build","routing_key":"build.WINNT_5_2_mozilla-beta_build.7.log_uploaded","serializer":"json","sent":"2017-10-03T16:40:00+0000"}}`,
		// started with request ids that are not positive integers.
		`{"payload":{"build":{"builderName":"b","number":1,"properties":[["taskId","t","bbb"]]},"request_ids":[0,-1,1.5,"7"]},"_meta":{"master_name":"bm01"}}`,
		`{"payload":{"build":{"builderName":"b","number":1,"properties":[["request_ids",[1e30],"postrun.py"]]}},"_meta":{"master_name":"bm01"}}`,
	} {
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
