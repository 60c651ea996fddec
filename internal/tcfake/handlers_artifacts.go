package tcfake

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// s3Prefix is where the stand-in serves the "pre-signed S3 URLs" it hands out
// for s3 artifacts: PUT stores the data, GET returns it.
const s3Prefix = "/tcfake-s3"

// maxArtifactBody bounds one uploaded artifact held in memory.
const maxArtifactBody = 256 << 20

// s3PutURLLifetime is how long the real queue's signed PUT URLs last.
const s3PutURLLifetime = 45 * time.Minute

func (q *Queue) s3URL(taskID string, runID int, name string) string {
	return q.rootURL + s3Prefix + "/" + taskID + "/" + strconv.Itoa(runID) + "/" + url.PathEscape(name)
}

type createArtifactInput struct {
	StorageType string `json:"storageType"`
	ContentType string `json:"contentType"`
	Expires     string `json:"expires"`
	URL         string `json:"url"`
	Artifact    string `json:"artifact"`
	Reason      string `json:"reason"`
	Message     string `json:"message"`
}

func handleCreateArtifact(req *apiRequest) *reply {
	q := req.q
	var in createArtifactInput
	if err := json.Unmarshal(req.body, &in); err != nil {
		return req.fail("InputValidationError", "Request payload must match the schema post-artifact-request.json: "+err.Error())
	}
	if in.ContentType == "" {
		in.ContentType = "application/binary"
	}
	expires, err := time.Parse(time.RFC3339Nano, in.Expires)
	if err != nil {
		return req.fail("InputError", "Expires must be a date-time")
	}
	expires = msTime(expires.UTC())
	taskID, name := req.params["taskId"], req.params["name"]

	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if expires.Before(now.Add(-15 * time.Minute)) {
		return req.fail("InputError", "Expires must be in the future")
	}
	t, ok := q.tasks[taskID]
	if !ok {
		return req.fail("InputError", "Task not found")
	}
	runID := req.runID()
	if runID < 0 || runID >= len(t.runs) {
		return req.fail("InputError", "Run not found")
	}
	r := t.runs[runID]
	if r.workerGroup == "" || r.workerID == "" {
		return req.fail("InputError", "Run was not claimed by a worker and so no artifacts can exist")
	}
	if expires.After(t.expires) {
		return req.fail("InputError", fmt.Sprintf("Artifact expires (%s) after the task expiration %s (task.expires < expires) - this is not allowed, artifacts may not expire after the task they belong to expires",
			formatTime(expires), t.def.Expires))
	}
	if r.state != stateRunning {
		allow := r.state == stateException && r.resolved.After(now.Add(-artifactExceptionGrace))
		if !allow {
			status, _ := json.MarshalIndent(t.status(), "", "  ")
			return req.fail("RequestConflict", "Artifacts cannot be created for a task after it is resolved, unless it is resolved 'exception', and even in this case only up to 25 min past resolution.This to ensure that artifacts have been uploaded before a task is 'completed' and output is consumed by a dependent task\n\nTask status: "+string(status))
		}
	}
	if in.StorageType == "object" {
		return req.fail("InputError", "tcfake: object artifacts need the object service, which this stand-in does not provide")
	}
	want := &artifact{
		name:        name,
		storageType: in.StorageType,
		contentType: in.ContentType,
		expires:     expires,
		url:         in.URL,
		linkTarget:  in.Artifact,
		errReason:   in.Reason,
		errMessage:  in.Message,
	}
	runArtifacts := t.artifacts[runID]
	if runArtifacts == nil {
		runArtifacts = map[string]*artifact{}
		t.artifacts[runID] = runArtifacts
	}
	a, exists := runArtifacts[name]
	if exists {
		if !compatibleArtifact(a, want) {
			return req.fail("RequestConflict", fmt.Sprintf("Artifact already exists with different properties, and none of the allowed exceptions apply: {\n  \"storageType\": %q,\n  \"contentType\": %q,\n  \"expires\": %q\n}",
				a.storageType, a.contentType, formatTime(a.expires)))
		}
		a.storageType = want.storageType
		a.expires = want.expires
		a.url, a.linkTarget, a.errReason, a.errMessage = want.url, want.linkTarget, want.errReason, want.errMessage
	} else {
		a = want
		runArtifacts[name] = a
	}
	// The real queue announces every artifact type but s3.
	if a.storageType != "s3" {
		m := newMessage("artifact-created", t, runID, r.workerGroup, r.workerID, false)
		info := a.info()
		m.body.Artifact = &info
		req.msgs = append(req.msgs, m)
	}
	if a.storageType == "s3" {
		return okReply(map[string]any{
			"storageType": "s3",
			"contentType": a.contentType,
			"expires":     formatTime(now.Add(s3PutURLLifetime)),
			"putUrl":      q.s3URL(taskID, runID, name),
		})
	}
	return okReply(map[string]any{"storageType": a.storageType})
}

// compatibleArtifact is createArtifactCallsCompatible from artifacts.js: a
// repeat may extend expires and may update a reference (or turn it into a
// link), and nothing else may change.
func compatibleArtifact(orig, next *artifact) bool {
	if next.storageType != "link" && orig.contentType != next.contentType {
		return false
	}
	if orig.expires.After(next.expires) {
		return false
	}
	if orig.storageType == next.storageType {
		if next.storageType == "reference" {
			return true
		}
		return orig.url == next.url && orig.linkTarget == next.linkTarget &&
			orig.errReason == next.errReason && orig.errMessage == next.errMessage
	}
	return orig.storageType == "reference" && next.storageType == "link"
}

func sortedArtifacts(m map[string]*artifact) []*artifact {
	out := make([]*artifact, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func listReply(t *task, runID int) *reply {
	list := make([]artifactJSON, 0)
	for _, a := range sortedArtifacts(t.artifacts[runID]) {
		list = append(list, a.info())
	}
	return okReply(map[string]any{"artifacts": list})
}

func handleListArtifacts(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[req.params["taskId"]]
	if !ok {
		return req.fail("ResourceNotFound", "Task not found")
	}
	if len(t.runs) == 0 {
		return req.fail("ResourceNotFound", "Task doesn't have any runs")
	}
	runID := req.runID()
	if runID < 0 || runID > len(t.runs)-1 {
		return req.fail("ResourceNotFound", fmt.Sprintf("Task with taskId: `%s` has no run with runId: %s", t.id, req.params["runId"]))
	}
	return listReply(t, runID)
}

func handleListLatestArtifacts(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[req.params["taskId"]]
	if !ok {
		return req.fail("ResourceNotFound", "Task not found")
	}
	if len(t.runs) == 0 {
		return req.fail("ResourceNotFound", "Task doesn't have any runs")
	}
	return listReply(t, len(t.runs)-1)
}

func handleGetArtifact(req *apiRequest) *reply {
	q := req.q
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.artifactDownload(req, req.runID())
}

func handleGetLatestArtifact(req *apiRequest) *reply {
	q := req.q
	// lib-api checks the scope before it may answer 404 for the task.
	if rep := req.authorize(scope("queue:get-artifact:" + req.params["name"])); rep != nil {
		return rep
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.tasks[req.params["taskId"]]
	if !ok {
		return req.fail("ResourceNotFound", "Task not found")
	}
	if len(t.runs) == 0 {
		return req.fail("ResourceNotFound", "Task doesn't have any runs")
	}
	return q.artifactDownload(req, len(t.runs)-1)
}

// artifactDownload answers getArtifact for one run, following links; the
// caller holds q.mu.
func (q *Queue) artifactDownload(req *apiRequest, runID int) *reply {
	taskID := req.params["taskId"]
	name := req.params["name"]
	var names []string
	var a *artifact
	for {
		names = append(names, name)
		var required []scopeExpr
		for _, n := range names {
			required = append(required, scope("queue:get-artifact:"+n))
		}
		if rep := req.authorize(allOf(required...)); rep != nil {
			return rep
		}
		a = nil
		if t, ok := q.tasks[taskID]; ok {
			a = t.artifacts[runID][name]
		}
		if a == nil {
			return req.fail("ResourceNotFound", "Artifact not found")
		}
		if a.storageType != "link" {
			break
		}
		for _, seen := range names {
			if seen == a.linkTarget {
				return req.fail("InputError", "Artifact leads to a link cycle")
			}
		}
		name = a.linkTarget
	}
	headers := map[string]string{"x-taskcluster-artifact-storage-type": a.storageType}
	switch a.storageType {
	case "s3", "reference":
		u := a.url
		if a.storageType == "s3" {
			u = q.s3URL(taskID, runID, a.name)
		}
		headers["Location"] = u
		return &reply{status: http.StatusSeeOther, headers: headers, body: map[string]any{"storageType": a.storageType, "url": u}}
	default: // error
		return &reply{status: http.StatusFailedDependency, headers: headers, body: map[string]any{"reason": a.errReason, "message": a.errMessage}}
	}
}

// s3Artifact finds the s3 artifact an upload URL names; the caller holds q.mu.
func (q *Queue) s3Artifact(r *http.Request) *artifact {
	t, ok := q.tasks[r.PathValue("taskId")]
	if !ok {
		return nil
	}
	runID, err := strconv.Atoi(r.PathValue("runId"))
	if err != nil {
		return nil
	}
	a := t.artifacts[runID][r.PathValue("name")]
	if a == nil || a.storageType != "s3" {
		return nil
	}
	return a
}

// serveS3Put stores an upload to a putUrl. Like S3 with a signed URL, it
// requires a Content-Length and the Content-Type given to createArtifact.
func (q *Queue) serveS3Put(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength < 0 {
		http.Error(w, "MissingContentLength: You must provide the Content-Length HTTP header.", http.StatusLengthRequired)
		return
	}
	if r.ContentLength > maxArtifactBody {
		http.Error(w, "EntityTooLarge", http.StatusRequestEntityTooLarge)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxArtifactBody))
	if err != nil {
		http.Error(w, "IncompleteBody", http.StatusBadRequest)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.s3Artifact(r)
	if a == nil {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != a.contentType {
		http.Error(w, "SignatureDoesNotMatch: the Content-Type must be the one given to createArtifact", http.StatusForbidden)
		return
	}
	a.body = data
	a.bodyType = r.Header.Get("Content-Type")
	a.uploaded = true
	sum := md5.Sum(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.WriteHeader(http.StatusOK)
}

// serveS3Get returns uploaded artifact data, where getArtifact redirects to.
func (q *Queue) serveS3Get(w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	a := q.s3Artifact(r)
	var data []byte
	var ct string
	if a != nil && a.uploaded {
		data, ct = a.body, a.bodyType
	}
	found := a != nil && a.uploaded
	q.mu.Unlock()
	if !found {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}
