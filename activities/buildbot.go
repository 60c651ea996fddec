package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
)

// InjectBuildRequest writes the task's BuildRequest (sourcestamp, buildset,
// properties, request and the bridge's bbb_tasks row, in one transaction).
// It is idempotent: a retry, or a duplicate for the same run, returns the
// BuildRequest already written with Created false.
func (a *Activities) InjectBuildRequest(ctx context.Context, in InjectInput) (InjectResult, error) {
	props := make([]schedulerdb.Property, len(in.Properties))
	for i, p := range in.Properties {
		props[i] = schedulerdb.Property{Name: p.Name, Value: p.Value}
	}
	res, err := a.db.InjectBuildRequest(ctx, schedulerdb.Injection{
		TaskID:      in.TaskID,
		RunID:       in.RunID,
		BuilderName: in.BuilderName,
		Sourcestamp: schedulerdb.Sourcestamp(in.Sourcestamp),
		Properties:  props,
		Priority:    in.Priority,
		SubmittedAt: in.SubmittedAt,
	})
	switch {
	case errors.Is(err, schedulerdb.ErrPropertyTooLong):
		return InjectResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrPropertyTooLong, nil)
	case errors.Is(err, schedulerdb.ErrFieldTooLong):
		return InjectResult{}, badPayload(err.Error())
	case err != nil:
		return InjectResult{}, err
	}
	a.log.InfoContext(ctx, "buildrequest injected", "taskId", in.TaskID, "runId", in.RunID,
		"buildRequestId", res.BuildRequestID, "created", res.Created, "builderName", in.BuilderName)
	return InjectResult{BuildRequestID: res.BuildRequestID, Created: res.Created}, nil
}

// ReadBuildRequest reads the BuildRequest row and counts its builds, for
// the workflow's safety net and its checks on a request not yet started.
func (a *Activities) ReadBuildRequest(ctx context.Context, brid int64) (BuildRequestState, error) {
	br, err := a.db.BuildRequest(ctx, brid)
	if errors.Is(err, schedulerdb.ErrNotFound) {
		return BuildRequestState{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrBuildRequestNotFound, nil)
	}
	if err != nil {
		return BuildRequestState{}, err
	}
	builds, err := a.db.Builds(ctx, brid)
	if err != nil {
		return BuildRequestState{}, err
	}
	st := BuildRequestState{
		BuildRequestID: br.ID,
		Complete:       br.Complete,
		Results:        br.Results,
		ClaimedAt:      br.ClaimedAt,
		Builds:         len(builds),
	}
	if br.CompleteAt != nil {
		st.CompleteAt = *br.CompleteAt
	}
	for _, b := range builds {
		if b.FinishTime == nil {
			st.RunningBuilds++
		}
	}
	return st, nil
}

// CancelBuildRequest asks self-serve to cancel the BuildRequest. A 404 is
// logged and ignored: it is what self-serve answers right after scheduling
// (bug 1323013) and for a request already gone. Requested counts the
// cancels self-serve accepted.
func (a *Activities) CancelBuildRequest(ctx context.Context, brid int64) (CancelResult, error) {
	branch, ok, err := a.selfServeBranch(ctx, brid)
	if err != nil || !ok {
		return CancelResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, selfServeTimeout)
	defer cancel()
	err = a.selfServe.CancelRequest(ctx, branch, brid)
	if errors.Is(err, selfserve.ErrNotFound) {
		a.log.InfoContext(ctx, "self-serve does not know the buildrequest: nothing to cancel", "buildRequestId", brid, "branch", branch)
		return CancelResult{}, nil
	}
	if err != nil {
		return CancelResult{}, selfServeError(err)
	}
	a.log.InfoContext(ctx, "buildrequest cancel requested", "buildRequestId", brid, "branch", branch)
	return CancelResult{Requested: 1}, nil
}

// CancelBuilds asks self-serve to stop every build of the BuildRequest that
// has not finished (a RETRY'd request may have had several builds).
// Requested counts the cancels self-serve accepted.
func (a *Activities) CancelBuilds(ctx context.Context, brid int64) (CancelResult, error) {
	builds, err := a.db.Builds(ctx, brid)
	if err != nil {
		return CancelResult{}, err
	}
	var running []schedulerdb.Build
	for _, b := range builds {
		if b.FinishTime == nil {
			running = append(running, b)
		}
	}
	if len(running) == 0 {
		return CancelResult{}, nil
	}
	branch, ok, err := a.selfServeBranch(ctx, brid)
	if err != nil || !ok {
		return CancelResult{}, err
	}
	var res CancelResult
	for _, b := range running {
		if err := a.cancelBuild(ctx, branch, b.ID); errors.Is(err, selfserve.ErrNotFound) {
			// A build self-serve does not know cannot be stopped through
			// it; asking again would not change that.
			a.log.WarnContext(ctx, "self-serve does not know the build", "buildRequestId", brid, "buildId", b.ID, "branch", branch)
			continue
		} else if err != nil {
			return res, selfServeError(err)
		}
		res.Requested++
		a.log.InfoContext(ctx, "build cancel requested", "buildRequestId", brid, "buildId", b.ID, "buildNumber", b.Number, "branch", branch)
	}
	return res, nil
}

func (a *Activities) cancelBuild(ctx context.Context, branch string, buildID int64) error {
	ctx, cancel := context.WithTimeout(ctx, selfServeTimeout)
	defer cancel()
	return a.selfServe.CancelBuild(ctx, branch, buildID)
}

// selfServeBranch is the branch self-serve files the request under: the
// last element of its sourcestamp's branch. ok is false for a request
// with no branch (a task without a sourcestamp), which self-serve cannot
// address at all.
func (a *Activities) selfServeBranch(ctx context.Context, brid int64) (string, bool, error) {
	branch, err := a.db.Branch(ctx, brid)
	if errors.Is(err, schedulerdb.ErrNotFound) {
		return "", false, temporal.NewNonRetryableApplicationError(err.Error(), ErrBuildRequestNotFound, nil)
	}
	if err != nil {
		return "", false, err
	}
	branch = payload.SelfServeBranch(branch)
	if branch == "" {
		a.log.ErrorContext(ctx, "buildrequest has no branch: self-serve cannot cancel it", "buildRequestId", brid)
		return "", false, nil
	}
	return branch, true, nil
}

// selfServeError keeps 5xx and network failures retryable and makes
// refusals final.
func selfServeError(err error) error {
	if selfserve.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrSelfServeRejected, nil)
	}
	return fmt.Errorf("self-serve: %w", err)
}
