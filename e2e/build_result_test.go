package e2e

import (
	"encoding/json"
	"time"
)

// public/build-result.json, as a Treeherder ingester would read it from the
// run's artifacts.

// buildResultDoc is the document's JSON shape.
type buildResultDoc struct {
	Buildbot struct {
		Result string `json:"result"`
		Code   *int   `json:"code"`
	} `json:"buildbot"`
	Treeherder  string `json:"treeherder"`
	Taskcluster struct {
		Call   string `json:"call"`
		Reason string `json:"reason"`
		Why    string `json:"why"`
	} `json:"taskcluster"`
	Builder        *string    `json:"builder"`
	BuildNumber    *int       `json:"buildNumber"`
	Master         *string    `json:"master"`
	BuildRequestID int64      `json:"buildRequestId"`
	StartedAt      *time.Time `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt"`
	Source         string     `json:"source"`
	Interrupted    *string    `json:"interrupted"`
}

// resultCodes are Buildbot's result codes by name.
var resultCodes = map[string]int{"SUCCESS": 0, "WARNINGS": 1, "FAILURE": 2, "SKIPPED": 3, "EXCEPTION": 4, "RETRY": 5, "CANCELLED": 6}

// wantBuildResult is what a scenario expects of the document; the build's
// identity and times are checked against Source.
type wantBuildResult struct {
	result     string
	treeherder string
	call       string // the TC call; "none" when TC had ended the run
	reason     string // reportException's reason
	source     string // "finished event" or "request row"; "" for either
	brid       int64  // 0: not checked
}

// expectBuildResult checks run runID of the task carries the document, as
// an s3 JSON artifact, saying what want says, and returns it.
func expectBuildResult(e *env, taskID string, runID int, want wantBuildResult) buildResultDoc {
	e.t.Helper()
	var doc buildResultDoc
	found := false
	for _, a := range e.queue.Artifacts(taskID, runID) {
		if a.Name != "public/build-result.json" {
			continue
		}
		found = true
		if a.StorageType != "s3" || a.ContentType != "application/json" {
			e.t.Errorf("task %s run %d: build-result.json stored as %s %s, want s3 application/json", taskID, runID, a.StorageType, a.ContentType)
		}
		if err := json.Unmarshal(a.Body, &doc); err != nil {
			e.t.Errorf("task %s run %d: build-result.json is not JSON: %v: %s", taskID, runID, err, a.Body)
			return doc
		}
		e.t.Logf("task %s run %d build-result.json: %s", taskID, runID, a.Body)
	}
	if !found {
		e.t.Errorf("task %s run %d: no public/build-result.json among %v", taskID, runID, lcArtifactNames(e, taskID, runID))
		return doc
	}
	code, wantCode := -1, resultCodes[want.result]
	if doc.Buildbot.Code != nil {
		code = *doc.Buildbot.Code
	}
	if doc.Buildbot.Result != want.result || code != wantCode || doc.Treeherder != want.treeherder ||
		doc.Taskcluster.Call != want.call || doc.Taskcluster.Reason != want.reason || (want.source != "" && doc.Source != want.source) {
		e.t.Errorf("task %s run %d: build-result.json says %s (code %d), Treeherder %q, TC %+v, from the %s; want %s (%d), %q, %s %q, from the %s",
			taskID, runID, doc.Buildbot.Result, code, doc.Treeherder, doc.Taskcluster, doc.Source,
			want.result, wantCode, want.treeherder, want.call, want.reason, want.source)
	}
	if want.brid != 0 && doc.BuildRequestID != want.brid {
		e.t.Errorf("task %s run %d: build-result.json names BuildRequest %d, want %d", taskID, runID, doc.BuildRequestID, want.brid)
	}
	if doc.Builder == nil || *doc.Builder == "" {
		e.t.Errorf("task %s run %d: build-result.json names no builder", taskID, runID)
	}
	switch doc.Source {
	case "finished event":
		// The build's own times from the event, not when the bridge heard.
		if doc.BuildNumber == nil || doc.Master == nil || doc.StartedAt == nil || doc.FinishedAt == nil ||
			doc.FinishedAt.Before(*doc.StartedAt) {
			e.t.Errorf("task %s run %d: build-result.json from a finished event lacks the build's number, master or times: %+v",
				taskID, runID, doc)
		}
	case "request row":
		if doc.BuildNumber != nil || doc.Master != nil || doc.StartedAt != nil || doc.FinishedAt != nil {
			e.t.Errorf("task %s run %d: build-result.json from the request row claims to know the build: %+v", taskID, runID, doc)
		}
	default:
		e.t.Errorf("task %s run %d: build-result.json source %q", taskID, runID, doc.Source)
	}
	return doc
}
