package pulsemsg_test

import (
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// A task-pending message as the queue publishes it for a new task (run 0,
// with the task's tags) and for a rerun (run 1, no "task").
const (
	pendingNewTask = `{
  "version": 1,
  "status": {
    "taskId": "fN1SbArXTPSVFNUvaOlinQ",
    "provisionerId": "buildbot-bridge",
    "workerType": "buildbot-bridge",
    "schedulerId": "-",
    "projectId": "none",
    "taskGroupId": "fN1SbArXTPSVFNUvaOlinQ",
    "deadline": "2017-10-04T16:11:14.000Z",
    "expires": "2018-10-04T16:11:14.000Z",
    "retriesLeft": 5,
    "state": "pending",
    "runs": [
      {"runId": 0, "state": "pending", "reasonCreated": "scheduled", "scheduled": "2017-10-03T16:11:15.012Z"}
    ]
  },
  "runId": 0,
  "task": {"tags": {}}
}`
	pendingRerun = `{
  "version": 1,
  "status": {
    "taskId": "c2eTWLkLQ_6CW6kBtVxTrw",
    "provisionerId": "buildbot-bridge",
    "workerType": "buildbot-bridge",
    "schedulerId": "gecko-level-3",
    "taskGroupId": "Ew3Tb9D0S3y1cSjKaR6HYw",
    "deadline": "2017-10-04T16:11:14.000Z",
    "expires": "2018-10-04T16:11:14.000Z",
    "retriesLeft": 5,
    "state": "pending",
    "runs": [
      {"runId": 0, "state": "completed", "reasonCreated": "scheduled", "reasonResolved": "completed",
       "workerGroup": "buildbot-bridge", "workerId": "buildbot-bridge", "takenUntil": "2017-10-03T16:31:15.000Z",
       "scheduled": "2017-10-03T16:11:15.012Z", "started": "2017-10-03T16:11:16.000Z", "resolved": "2017-10-03T16:20:00.000Z"},
      {"runId": 1, "state": "pending", "reasonCreated": "rerun", "scheduled": "2017-10-03T17:00:00.000Z"}
    ]
  },
  "runId": 1
}`
	exceptionCanceled = `{
  "version": 1,
  "status": {
    "taskId": "fN1SbArXTPSVFNUvaOlinQ",
    "provisionerId": "buildbot-bridge",
    "workerType": "buildbot-bridge",
    "schedulerId": "-",
    "taskGroupId": "fN1SbArXTPSVFNUvaOlinQ",
    "deadline": "2017-10-04T16:11:14.000Z",
    "expires": "2018-10-04T16:11:14.000Z",
    "retriesLeft": 5,
    "state": "exception",
    "runs": [
      {"runId": 0, "state": "exception", "reasonCreated": "scheduled", "reasonResolved": "canceled",
       "workerGroup": "buildbot-bridge", "workerId": "buildbot-bridge", "takenUntil": "2017-10-03T16:31:15.000Z",
       "scheduled": "2017-10-03T16:11:15.012Z", "started": "2017-10-03T16:11:16.000Z", "resolved": "2017-10-03T16:12:00.000Z"}
    ]
  },
  "runId": 0,
  "task": {"tags": {}},
  "workerGroup": "buildbot-bridge",
  "workerId": "buildbot-bridge"
}`
	// The deadline resolver publishes no worker fields.
	exceptionDeadlineRun2 = `{
  "version": 1,
  "status": {
    "taskId": "c2eTWLkLQ_6CW6kBtVxTrw",
    "provisionerId": "buildbot-bridge", "workerType": "buildbot-bridge",
    "schedulerId": "-", "taskGroupId": "c2eTWLkLQ_6CW6kBtVxTrw",
    "deadline": "2017-10-04T16:11:14.000Z", "expires": "2018-10-04T16:11:14.000Z",
    "retriesLeft": 3, "state": "exception",
    "runs": [
      {"runId": 0, "state": "exception", "reasonCreated": "scheduled", "reasonResolved": "claim-expired", "scheduled": "2017-10-03T16:11:15.012Z"},
      {"runId": 1, "state": "exception", "reasonCreated": "retry", "reasonResolved": "worker-shutdown", "scheduled": "2017-10-03T16:40:00.000Z"},
      {"runId": 2, "state": "exception", "reasonCreated": "retry", "reasonResolved": "deadline-exceeded", "scheduled": "2017-10-03T17:00:00.000Z"}
    ]
  },
  "runId": 2
}`
)

func TestDecodeTaskPending(t *testing.T) {
	tests := []struct {
		name string
		body string
		want signals.TaskPending
	}{
		{"new task", pendingNewTask, signals.TaskPending{EventID: "pending:0", TaskID: "fN1SbArXTPSVFNUvaOlinQ", RunID: 0}},
		{"rerun without task", pendingRerun, signals.TaskPending{EventID: "pending:1", TaskID: "c2eTWLkLQ_6CW6kBtVxTrw", RunID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeTaskPending([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeTaskPending: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeTaskPendingRejects(t *testing.T) {
	tests := []struct {
		name, body, wantInErr string
	}{
		{"not JSON", `<html>502 Bad Gateway</html>`, "not a valid message"},
		{"empty body", ``, "not a valid message"},
		{"JSON null", `null`, "status missing"},
		{"JSON array", `[1,2]`, "not a valid message"},
		{"no status", `{"version":1,"runId":0}`, "status missing"},
		{"no taskId", `{"version":1,"status":{"runs":[{"runId":0}]},"runId":0}`, "status.taskId missing"},
		{"taskId not a string", `{"version":1,"status":{"taskId":42,"runs":[{"runId":0}]},"runId":0}`, "not a valid message"},
		{"taskId with a slash", `{"version":1,"status":{"taskId":"a/b","runs":[{"runId":0}]},"runId":0}`, "is not a taskId"},
		{"empty taskId", `{"version":1,"status":{"taskId":"","runs":[{"runId":0}]},"runId":0}`, "is not a taskId"},
		{"no runId", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]}}`, "runId missing"},
		{"runId a string", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]},"runId":"0"}`, "not a valid message"},
		{"runId fractional", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]},"runId":0.5}`, "not a valid message"},
		{"runId negative", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]},"runId":-1}`, "out of range"},
		{"runId beyond runs", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0}]},"runId":1}`, "status has 1 runs"},
		{"runs missing", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ"},"runId":0}`, "status has 0 runs"},
		{"runs not a list", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":{}},"runId":0}`, "not a valid message"},
		{"huge runId", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[]},"runId":99999999999999999999}`, "not a valid message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeTaskPending([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %s as %+v", tt.body, got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
		})
	}
}

func TestDecodeTaskException(t *testing.T) {
	tests := []struct {
		name string
		body string
		want signals.TaskException
	}{
		{"canceled", exceptionCanceled, signals.TaskException{
			EventID: "exception:0:canceled", TaskID: "fN1SbArXTPSVFNUvaOlinQ", RunID: 0, Reason: "canceled"}},
		{"deadline on the third run", exceptionDeadlineRun2, signals.TaskException{
			EventID: "exception:2:deadline-exceeded", TaskID: "c2eTWLkLQ_6CW6kBtVxTrw", RunID: 2, Reason: "deadline-exceeded"}},
		{"run without reasonResolved", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0,"state":"exception"}]},"runId":0}`,
			signals.TaskException{EventID: "exception:0:", TaskID: "fN1SbArXTPSVFNUvaOlinQ", RunID: 0, Reason: ""}},
		// runId is optional in task-exception-message.json; the queue
		// always means the last run.
		{"no runId means the last run", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[
			{"runId":0,"state":"exception","reasonResolved":"claim-expired"},
			{"runId":1,"state":"exception","reasonResolved":"deadline-exceeded"}]}}`,
			signals.TaskException{EventID: "exception:1:deadline-exceeded", TaskID: "fN1SbArXTPSVFNUvaOlinQ", RunID: 1, Reason: "deadline-exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeTaskException([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeTaskException: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeTaskExceptionRejects(t *testing.T) {
	tests := []struct {
		name, body, wantInErr string
	}{
		{"not JSON", `{"version":1,`, "not a valid message"},
		{"no status", `{"version":1,"runId":0}`, "status missing"},
		{"status null", `{"version":1,"status":null,"runId":0}`, "status missing"},
		{"no taskId", `{"version":1,"status":{"runs":[{"runId":0}]},"runId":0}`, "status.taskId missing"},
		{"runId beyond runs", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0,"reasonResolved":"canceled"}]},"runId":3}`, "status has 1 runs"},
		{"runId above the schema maximum", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[]},"runId":1001}`, "out of range"},
		{"no runId and no runs", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[]}}`, "no runId and no runs"},
		{"reasonResolved not a string", `{"version":1,"status":{"taskId":"fN1SbArXTPSVFNUvaOlinQ","runs":[{"runId":0,"reasonResolved":7}]},"runId":0}`, "not a valid message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeTaskException([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %s as %+v", tt.body, got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
		})
	}
}
