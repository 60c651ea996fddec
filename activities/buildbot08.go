package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
)

// buildbot08 is Buildbot 0.8 as Mozilla ran it: requests are written to the
// scheduler DB, read back from it, and cancelled through BuildAPI's
// self-serve; build events arrive on Pulse.
type buildbot08 struct {
	db        *schedulerdb.DB
	selfServe *selfserve.Client
	log       *slog.Logger
}

// NewBuildbot08 is the Buildbot 0.8 backend over the scheduler DB and
// self-serve.
func NewBuildbot08(db *schedulerdb.DB, selfServe *selfserve.Client, log *slog.Logger) Buildbot {
	if log == nil {
		log = slog.Default()
	}
	return &buildbot08{db: db, selfServe: selfServe, log: log}
}

// Inject writes sourcestamp, buildset, properties, request and the bridge's
// bbb_tasks row in one transaction.
func (b *buildbot08) Inject(ctx context.Context, in InjectInput) (InjectResult, error) {
	props := make([]schedulerdb.Property, len(in.Properties))
	for i, p := range in.Properties {
		props[i] = schedulerdb.Property{Name: p.Name, Value: p.Value}
	}
	res, err := b.db.InjectBuildRequest(ctx, schedulerdb.Injection{
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
	return InjectResult{BuildRequestID: res.BuildRequestID, Created: res.Created}, nil
}

func (b *buildbot08) Request(ctx context.Context, brid int64) (BuildRequestState, error) {
	br, err := b.db.BuildRequest(ctx, brid)
	if errors.Is(err, schedulerdb.ErrNotFound) {
		return BuildRequestState{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrBuildRequestNotFound, nil)
	}
	if err != nil {
		return BuildRequestState{}, err
	}
	builds, err := b.db.Builds(ctx, brid)
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

// CancelRequest asks self-serve to cancel the BuildRequest. A 404 is logged
// and ignored: it is what self-serve answers right after scheduling (bug
// 1323013) and for a request already gone.
func (b *buildbot08) CancelRequest(ctx context.Context, brid int64) (CancelResult, error) {
	branch, ok, err := b.selfServeBranch(ctx, brid)
	if err != nil || !ok {
		return CancelResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, selfServeTimeout)
	defer cancel()
	err = b.selfServe.CancelRequest(ctx, branch, brid)
	if errors.Is(err, selfserve.ErrNotFound) {
		b.log.InfoContext(ctx, "self-serve does not know the buildrequest: nothing to cancel", "buildRequestId", brid, "branch", branch)
		return CancelResult{}, nil
	}
	if err != nil {
		return CancelResult{}, selfServeError(err)
	}
	b.log.InfoContext(ctx, "buildrequest cancel requested", "buildRequestId", brid, "branch", branch)
	return CancelResult{Requested: 1}, nil
}

// CancelBuilds asks self-serve to stop every unfinished build of the
// request (a RETRY'd request may have had several).
func (b *buildbot08) CancelBuilds(ctx context.Context, brid int64) (CancelResult, error) {
	builds, err := b.db.Builds(ctx, brid)
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
	branch, ok, err := b.selfServeBranch(ctx, brid)
	if err != nil || !ok {
		return CancelResult{}, err
	}
	var res CancelResult
	for _, build := range running {
		if err := b.cancelBuild(ctx, branch, build.ID); errors.Is(err, selfserve.ErrNotFound) {
			// A build self-serve does not know cannot be stopped through
			// it; asking again would not change that.
			b.log.WarnContext(ctx, "self-serve does not know the build", "buildRequestId", brid, "buildId", build.ID, "branch", branch)
			continue
		} else if err != nil {
			return res, selfServeError(err)
		}
		res.Requested++
		b.log.InfoContext(ctx, "build cancel requested", "buildRequestId", brid, "buildId", build.ID, "buildNumber", build.Number, "branch", branch)
	}
	return res, nil
}

func (b *buildbot08) cancelBuild(ctx context.Context, branch string, buildID int64) error {
	ctx, cancel := context.WithTimeout(ctx, selfServeTimeout)
	defer cancel()
	return b.selfServe.CancelBuild(ctx, branch, buildID)
}

// selfServeBranch is the branch self-serve files the request under: the
// last element of its sourcestamp's branch. ok is false for a request
// with no branch (a task without a sourcestamp), which self-serve cannot
// address at all.
func (b *buildbot08) selfServeBranch(ctx context.Context, brid int64) (string, bool, error) {
	branch, err := b.db.Branch(ctx, brid)
	if errors.Is(err, schedulerdb.ErrNotFound) {
		return "", false, temporal.NewNonRetryableApplicationError(err.Error(), ErrBuildRequestNotFound, nil)
	}
	if err != nil {
		return "", false, err
	}
	branch = payload.SelfServeBranch(branch)
	if branch == "" {
		b.log.ErrorContext(ctx, "buildrequest has no branch: self-serve cannot cancel it", "buildRequestId", brid)
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

func (b *buildbot08) Cancelled(ctx context.Context, from Watermark, limit int) ([]CancelledRequest, Watermark, error) {
	cancelled, next, err := b.db.CancelledBeforeStart(ctx, toDBWatermark(from), limit)
	if err != nil {
		return nil, Watermark{}, err
	}
	out := make([]CancelledRequest, 0, len(cancelled))
	for _, c := range cancelled {
		out = append(out, CancelledRequest{TaskID: c.TaskID, BuildRequestID: c.BuildRequestID})
	}
	return out, fromDBWatermark(next, from), nil
}

func toDBWatermark(w Watermark) schedulerdb.Watermark {
	out := schedulerdb.Watermark{Horizon: w.CompleteAt}
	for _, s := range w.Seen {
		out.Seen = append(out.Seen, schedulerdb.SeenRequest{ID: s.ID, CompleteAt: s.CompleteAt})
	}
	return out
}

func fromDBWatermark(w schedulerdb.Watermark, prev Watermark) Watermark {
	out := Watermark{CompleteAt: w.Horizon, BuildRequestID: prev.BuildRequestID}
	for _, s := range w.Seen {
		out.Seen = append(out.Seen, SeenRequest{ID: s.ID, CompleteAt: s.CompleteAt})
		out.BuildRequestID = max(out.BuildRequestID, s.ID)
	}
	return out
}

// References: a 0.8 build's only link is its log_url property, which the
// finished event carries (ArtifactsInput.LogURL).
func (b *buildbot08) References(context.Context, int64, int64) ([]Reference, error) {
	return nil, nil
}

func (b *buildbot08) unadopted(ctx context.Context, limit int) ([]adoptable, error) {
	reqs, err := b.db.UnadoptedRequests(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]adoptable, len(reqs))
	for i, r := range reqs {
		out[i] = adoptable{TaskID: r.TaskID, BuildRequestID: r.BuildRequestID}
	}
	return out, nil
}

// markAdopted records run 0: the adopting workflow reads the task's real
// runs from TC; a newer run only gets a new request once this one is
// complete.
func (b *buildbot08) markAdopted(ctx context.Context, taskID string, brid int64) error {
	return b.db.AdoptRequest(ctx, taskID, brid, 0)
}
