package activities

import (
	"context"
)

// InjectBuildRequest creates the task's BuildRequest in Buildbot. It is
// idempotent: a retry, or a duplicate for the same run, returns the
// BuildRequest already made with Created false.
func (a *Activities) InjectBuildRequest(ctx context.Context, in InjectInput) (InjectResult, error) {
	res, err := a.bb.Inject(ctx, in)
	if err != nil {
		return InjectResult{}, err
	}
	a.log.InfoContext(ctx, "buildrequest injected", "taskId", in.TaskID, "runId", in.RunID,
		"buildRequestId", res.BuildRequestID, "created", res.Created, "builderName", in.BuilderName)
	return res, nil
}

// ReadBuildRequest reads the BuildRequest and counts its builds, for the
// workflow's safety net and its checks on a request not yet started.
func (a *Activities) ReadBuildRequest(ctx context.Context, brid int64) (BuildRequestState, error) {
	return a.bb.Request(ctx, brid)
}

// CancelBuildRequest cancels the BuildRequest in Buildbot. Requested counts
// the cancels Buildbot accepted.
func (a *Activities) CancelBuildRequest(ctx context.Context, brid int64) (CancelResult, error) {
	return a.bb.CancelRequest(ctx, brid)
}

// CancelBuilds stops every build of the BuildRequest that has not finished
// (a RETRY'd request may have had several). Requested counts the cancels
// Buildbot accepted.
func (a *Activities) CancelBuilds(ctx context.Context, brid int64) (CancelResult, error) {
	return a.bb.CancelBuilds(ctx, brid)
}
