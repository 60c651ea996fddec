package activities

import (
	"encoding/json"
	"time"
)

// Inputs and results of the activities. They are recorded in workflow
// history, which every Web UI user can read: no secret may ever be part of
// them (the claim's temporary credentials stay inside the activity).

// RunRef names one run of a task.
type RunRef struct {
	TaskID string `json:"taskId"`
	RunID  int    `json:"runId"`
}

// Run is one run of a task as Taskcluster reports it.
type Run struct {
	RunID          int       `json:"runId"`
	State          string    `json:"state"` // pending, running, completed, failed, exception
	ReasonCreated  string    `json:"reasonCreated"`
	ReasonResolved string    `json:"reasonResolved,omitempty"`
	Scheduled      time.Time `json:"scheduled"`
	TakenUntil     time.Time `json:"takenUntil,omitempty"`
	WorkerGroup    string    `json:"workerGroup,omitempty"`
	WorkerID       string    `json:"workerId,omitempty"`
}

// TaskStatus is Taskcluster's status of a task: its runs, oldest first.
type TaskStatus struct {
	TaskID   string    `json:"taskId"`
	State    string    `json:"state"`
	Deadline time.Time `json:"deadline"`
	Expires  time.Time `json:"expires"`
	Runs     []Run     `json:"runs"`
	// QueueClock relates Deadline and the runs' times to the bridge's
	// clock.
	QueueClock
}

// PrepareInput asks for a task's definition to be read and validated.
type PrepareInput struct {
	TaskID string `json:"taskId"`
	RunID  int    `json:"runId"`
}

// Decisions of PrepareTask.
const (
	DecisionInject    = "inject"    // valid: inject a BuildRequest
	DecisionIgnore    = "ignore"    // builder matches ignored_builders: do nothing at all
	DecisionMalformed = "malformed" // claim the run, reportException malformed-payload
)

// Prepared is the validated task, ready to inject, or the reason it is not.
type Prepared struct {
	Decision string `json:"decision"`
	// Reason explains a malformed or ignored decision, for the task's author
	// and the operator.
	Reason string `json:"reason,omitempty"`
	// TaskName is the task's metadata.name, for the workflow's memo.
	TaskName    string    `json:"taskName,omitempty"`
	BuilderName string    `json:"builderName"`
	Branch      string    `json:"branch,omitempty"` // already shortened to a path
	Revision    string    `json:"revision,omitempty"`
	Expires     time.Time `json:"expires"`
	Deadline    time.Time `json:"deadline"`
	// Injection is set when Decision is DecisionInject.
	Injection *InjectInput `json:"injection,omitempty"`
}

// Sourcestamp is what a BuildRequest is built from.
type Sourcestamp struct {
	Branch     string `json:"branch,omitempty"`
	Revision   string `json:"revision,omitempty"`
	Repository string `json:"repository,omitempty"`
	Project    string `json:"project,omitempty"`
}

// Property is one buildset property, in the payload's order.
type Property struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// InjectInput is everything written to the scheduler DB for one BuildRequest.
type InjectInput struct {
	TaskID      string      `json:"taskId"`
	RunID       int         `json:"runId"`
	BuilderName string      `json:"builderName"`
	Sourcestamp Sourcestamp `json:"sourcestamp"`
	Properties  []Property  `json:"properties"`
	Priority    int         `json:"priority"` // 1 for "priority": "high" tasks
	// SubmittedAt is the run's scheduled time (bug 1391102), set by the
	// workflow from the run it injects for.
	SubmittedAt time.Time `json:"submittedAt"`
}

// InjectResult names the BuildRequest that carries the task.
type InjectResult struct {
	BuildRequestID int64 `json:"buildRequestId"`
	Created        bool  `json:"created"`
	// PollRunning asks the workflow to read the request every
	// reflector.interval while its build runs too, not only on reclaims:
	// a modern master's pushes are never resent, so a lost end must be
	// found from the REST API well within a claim period.
	PollRunning bool `json:"pollRunning,omitempty"`
}

// ClaimResult is what the workflow keeps of a claim or reclaim reply.
// A zero TakenUntil means the queue did not give us the run (the answer to a
// quarantined worker).
type ClaimResult struct {
	TakenUntil time.Time `json:"takenUntil"`
	// RepliedAt is when the reply arrived, on the bridge's clock.
	RepliedAt time.Time `json:"repliedAt"`
	// QueueClock turns TakenUntil into a time of the bridge's clock; the
	// claim period the reclaim schedule is computed from is that minus
	// RepliedAt.
	QueueClock
}

// ExceptionInput reports a run as exception.
type ExceptionInput struct {
	TaskID string `json:"taskId"`
	RunID  int    `json:"runId"`
	Reason string `json:"reason"` // worker-shutdown, malformed-payload, ...
}

// ArtifactsInput is what CreateArtifacts attaches before a run is resolved.
type ArtifactsInput struct {
	TaskID string `json:"taskId"`
	RunID  int    `json:"runId"`
	// Properties becomes public/properties.json: {name: [value, source]}.
	Properties map[string][2]any `json:"properties"`
	// LogURL, when set, becomes the reference artifact
	// public/logs/live_backing.log.gz.
	LogURL  string    `json:"logUrl,omitempty"`
	Expires time.Time `json:"expires"`
	// BuildRequestID and BuildID name the finished build, for the backend's
	// reference artifacts (modern Buildbot: the build's page and logs).
	// Zero in histories recorded before they existed.
	BuildRequestID int64 `json:"buildRequestId,omitempty"`
	BuildID        int64 `json:"buildId,omitempty"`
	// BuildResult, when set, becomes public/build-result.json. Nil in
	// histories recorded before it existed.
	BuildResult *BuildResult `json:"buildResult,omitempty"`
	// NoProperties leaves public/properties.json out: a run resolved from
	// its BuildRequest row has no finished event to take the build's
	// properties from, and an empty document would read as a build that
	// had none.
	NoProperties bool `json:"noProperties,omitempty"`
}

// BuildResult is the public/build-result.json document: the Buildbot result
// that ended a run, the Treeherder result it stands for, and what the
// bridge told Taskcluster. Buildbot's results and TC's resolutions have no
// 1:1 mapping (WARNINGS and FAILURE both fail the run, RETRY and a master
// shutdown both end it worker-shutdown), so consumers read the result here
// instead of inferring it from the run. The workflow assembles it from the
// event and its state; what it does not know is null, never guessed.
type BuildResult struct {
	Buildbot   BuildbotResult `json:"buildbot"`
	Treeherder string         `json:"treeherder"`
	// Taskcluster is the call the bridge makes with the document in place:
	// TC takes a run's artifacts only before it is resolved.
	Taskcluster    TCResolution `json:"taskcluster"`
	Builder        *string      `json:"builder"`
	BuildNumber    *int         `json:"buildNumber"`
	Master         *string      `json:"master"`
	BuildRequestID int64        `json:"buildRequestId"`
	StartedAt      *time.Time   `json:"startedAt"`
	FinishedAt     *time.Time   `json:"finishedAt"`
	// Source is where the result came from: BuildResultFromEvent or
	// BuildResultFromRow (the finished event was lost; the row knows no
	// build number, master or times).
	Source string `json:"source"`
	// Interrupted says why Buildbot ended the request on its own account
	// (modern Buildbot: a master shutdown, a collapse); the task runs again.
	Interrupted *string `json:"interrupted"`
}

// Sources of a BuildResult.
const (
	BuildResultFromEvent = "finished event"
	BuildResultFromRow   = "request row"
)

// BuildbotResult is a Buildbot result code and its name.
type BuildbotResult struct {
	Result string `json:"result"`
	Code   int    `json:"code"`
}

// TCResolution is the queue call that resolved a run.
type TCResolution struct {
	// Call is reportCompleted, reportFailed, reportException, cancelTask,
	// or none when TC had already ended the run.
	Call string `json:"call"`
	// Reason is reportException's reason.
	Reason string `json:"reason,omitempty"`
	// Why says, for none, how the run had ended.
	Why string `json:"why,omitempty"`
}

// BuildRequestState is a BuildRequest's row and its builds, as the safety
// net and the event loop need them.
type BuildRequestState struct {
	BuildRequestID int64 `json:"buildRequestId"`
	Complete       bool  `json:"complete"`
	Results        *int  `json:"results,omitempty"`
	ClaimedAt      int64 `json:"claimedAt"`
	CompleteAt     int64 `json:"completeAt,omitempty"`
	Builds         int   `json:"builds"`
	// RunningBuilds counts builds of the request with no finish time.
	RunningBuilds int `json:"runningBuilds"`
	// Interrupted, when set, says why Buildbot completed the request
	// without a result for the task: its build was cancelled by a master
	// shutdown, or it was collapsed into another request (SKIPPED, no
	// build). Only modern Buildbot does either.
	Interrupted string `json:"interrupted,omitempty"`
}

// CancelResult tells how many self-serve cancels were sent.
type CancelResult struct {
	Requested int `json:"requested"`
}

// Watermark is how far the sweep has read the scheduler DB, so each
// cancelled BuildRequest is reported once.
type Watermark struct {
	// CompleteAt: every cancelled request completed before it was reported.
	CompleteAt int64 `json:"completeAt"`
	// BuildRequestID is the highest request id examined so far; it grows
	// whenever a pass examines new rows at an unchanged CompleteAt.
	BuildRequestID int64 `json:"buildRequestId"`
	// Seen are the requests at or after CompleteAt already examined:
	// complete_at comes from several hosts' clocks and commits late, so
	// the sweep re-reads a settling window and skips these.
	Seen []SeenRequest `json:"seen,omitempty"`
}

// SeenRequest is a BuildRequest the sweep already examined.
type SeenRequest struct {
	ID         int64 `json:"id"`
	CompleteAt int64 `json:"completeAt"`
}

// CancelledRequest is a BuildRequest of ours cancelled in Buildbot before it
// started.
type CancelledRequest struct {
	TaskID         string `json:"taskId"`
	BuildRequestID int64  `json:"buildRequestId"`
}

// SweepResult is one pass of the sweep.
type SweepResult struct {
	Cancelled []CancelledRequest `json:"cancelled"`
	Next      Watermark          `json:"next"`
	// Adopted counts BuildRequests of a previous bridge that were handed to
	// a task workflow in adopt mode during this pass.
	Adopted int `json:"adopted"`
}

// Error types of the non-retryable ApplicationErrors the activities return,
// so the workflow can branch on what Taskcluster answered. Everything else an
// activity returns is retried by its retry policy.
const (
	ErrTCConflict      = "TCRequestConflict"    // 409
	ErrTCNotFound      = "TCResourceNotFound"   // 404
	ErrTCForbidden     = "TCInsufficientScopes" // 403
	ErrTCBadRequest    = "TCInputError"         // 400
	ErrPropertyTooLong = "PropertyTooLong"      // a property over Buildbot's 1024 characters
	ErrBadPayload      = "MalformedPayload"     // the task's payload cannot be injected
)
