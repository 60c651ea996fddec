package activities

import "context"

// Buildbot is the Buildbot side of the activities. The task workflow, its
// phases and the activity names are the same whatever Buildbot the bridge
// talks to; only this interface has one implementation per kind of master:
// Buildbot 0.8 (scheduler DB and self-serve, NewBuildbot08) and modern
// Buildbot through its REST API (NewBuildbotREST).
//
// Every method returns the activities' error conventions: a non-retryable
// temporal.ApplicationError (ErrBadPayload, ErrBuildRequestNotFound, ...)
// for what asking again cannot change, anything else to be retried.
type Buildbot interface {
	// Inject creates the task's BuildRequest. It is idempotent: a retry,
	// or a duplicate for the same run, returns the request already made
	// with Created false.
	Inject(ctx context.Context, in InjectInput) (InjectResult, error)
	// Request reads a BuildRequest and counts its builds.
	Request(ctx context.Context, brid int64) (BuildRequestState, error)
	// CancelRequest cancels a BuildRequest that has not started.
	CancelRequest(ctx context.Context, brid int64) (CancelResult, error)
	// CancelBuilds stops every unfinished build of a BuildRequest.
	CancelBuilds(ctx context.Context, brid int64) (CancelResult, error)
	// Cancelled returns the requests of ours cancelled in Buildbot before
	// they started that the watermark has not reported yet.
	Cancelled(ctx context.Context, from Watermark, limit int) ([]CancelledRequest, Watermark, error)
	// References are the links to attach to a run when build buildID of
	// the request finished (its page, its logs); buildID is 0 when the
	// event named no build.
	References(ctx context.Context, brid, buildID int64) ([]Reference, error)
}

// Reference is a reference artifact: a name in the task's artifacts that
// redirects to a URL in Buildbot.
type Reference struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	ContentType string `json:"contentType"`
}

// adopter is a Buildbot that can hand a previous bridge's requests to task
// workflows (only the 0.8 backend: the original bridge ran on 0.8).
type adopter interface {
	unadopted(ctx context.Context, limit int) ([]adoptable, error)
	markAdopted(ctx context.Context, taskID string, brid int64) error
}

type adoptable struct {
	TaskID         string
	BuildRequestID int64
}
