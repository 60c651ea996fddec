package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
)

// ErrBuildbotRejected is the type of the non-retryable error returned when
// Buildbot's REST API refuses a call (a 4xx): asking again would be refused
// again.
const ErrBuildbotRejected = "BuildbotRejected"

// BuildbotUsername is who the bridge's forced requests are "by" in
// Buildbot's UI; the force scheduler insists on "Name <email>".
const BuildbotUsername = "taskcluster-bridge <taskcluster-bridge@localhost>"

// cancelledSettle is how far back each sweep pass re-reads cancelled
// requests: complete_at is set by the master that completed the request,
// and several masters' clocks may disagree by a little.
const cancelledSettle = 30

// buildbotREST is modern Buildbot (3.x, 4.x) through its REST API: requests
// are forced through the bridge's ForceScheduler, read and cancelled
// through /api/v2; build events arrive as pushes from the master's
// HttpStatusPush reporter.
type buildbotREST struct {
	api       *buildbotrest.Client
	scheduler string
	log       *slog.Logger

	mu       sync.Mutex
	builders map[string]int64
}

// NewBuildbotREST is the REST backend: requests are created through the
// force scheduler named scheduler (contrib/buildbot's bridge_scheduler).
func NewBuildbotREST(api *buildbotrest.Client, scheduler string, log *slog.Logger) Buildbot {
	if log == nil {
		log = slog.Default()
	}
	return &buildbotREST{api: api, scheduler: scheduler, log: log}
}

// builderID looks the builder up, reading the master's list again when the
// name is not in the one held (a builder added by a reconfig).
func (b *buildbotREST) builderID(ctx context.Context, name string) (int64, bool, error) {
	b.mu.Lock()
	id, ok := b.builders[name]
	b.mu.Unlock()
	if ok {
		return id, true, nil
	}
	list, err := b.api.Builders(ctx)
	if err != nil {
		return 0, false, restError("list builders", err)
	}
	m := make(map[string]int64, len(list))
	for _, bl := range list {
		m[bl.Name] = bl.ID
	}
	b.mu.Lock()
	b.builders = m
	b.mu.Unlock()
	id, ok = m[name]
	return id, ok, nil
}

// Inject forces a request for the task. A retried inject (the force went
// through but its reply was lost) finds the incomplete request carrying
// the task's taskId on the builder and returns it instead of forcing a
// second one.
func (b *buildbotREST) Inject(ctx context.Context, in InjectInput) (InjectResult, error) {
	builderID, ok, err := b.builderID(ctx, in.BuilderName)
	if err != nil {
		return InjectResult{}, err
	}
	if !ok {
		return InjectResult{}, badPayload(fmt.Sprintf("builder %q does not exist on the Buildbot master", in.BuilderName))
	}
	found, err := b.api.FindRequests(ctx, builderID, in.TaskID, true)
	if err != nil {
		return InjectResult{}, restError("find the task's requests", err)
	}
	if len(found) > 0 {
		return InjectResult{BuildRequestID: slices.MinFunc(found, byID).ID, PollRunning: true}, nil
	}
	props := make([]buildbotrest.Property, 0, len(in.Properties)+1)
	for _, p := range in.Properties {
		if p.Name != "taskId" {
			props = append(props, buildbotrest.Property{Name: p.Name, Value: p.Value})
		}
	}
	props = append(props, buildbotrest.Property{Name: "taskId", Value: jsonString(in.TaskID)})
	_, brid, err := b.api.Force(ctx, buildbotrest.ForceRequest{
		Scheduler:   b.scheduler,
		Builder:     in.BuilderName,
		Reason:      fmt.Sprintf("Taskcluster task %s run %d", in.TaskID, in.RunID),
		Username:    BuildbotUsername,
		Sourcestamp: buildbotrest.Sourcestamp(in.Sourcestamp),
		Properties:  props,
	})
	if errors.Is(err, buildbotrest.ErrUnknownBuilder) {
		return InjectResult{}, badPayload(fmt.Sprintf("builder %q is not one the force scheduler %q can build: %v", in.BuilderName, b.scheduler, err))
	}
	if err != nil {
		return InjectResult{}, restError("force a request", err)
	}
	return InjectResult{BuildRequestID: brid, Created: true, PollRunning: true}, nil
}

func byID(x, y buildbotrest.BuildRequest) int {
	switch {
	case x.ID < y.ID:
		return -1
	case x.ID > y.ID:
		return 1
	}
	return 0
}

func jsonString(s string) []byte {
	return fmt.Appendf(nil, "%q", s)
}

func (b *buildbotREST) Request(ctx context.Context, brid int64) (BuildRequestState, error) {
	br, err := b.api.BuildRequest(ctx, brid)
	if errors.Is(err, buildbotrest.ErrNotFound) {
		return BuildRequestState{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("buildrequest %d is not on the Buildbot master", brid), ErrBuildRequestNotFound, nil)
	}
	if err != nil {
		return BuildRequestState{}, restError(fmt.Sprintf("read buildrequest %d", brid), err)
	}
	builds, err := b.api.Builds(ctx, brid)
	if err != nil {
		return BuildRequestState{}, restError(fmt.Sprintf("read the builds of buildrequest %d", brid), err)
	}
	return requestState(br, builds), nil
}

// requestState maps the REST view onto the one the workflow reads, where
// ClaimedAt tells whether a build ever took the request. Buildbot's own
// claimed_at does not: it cancels a pending request by claiming and
// completing it, and a RETRY clears the claim of one that was built.
func requestState(br buildbotrest.BuildRequest, builds []buildbotrest.Build) BuildRequestState {
	st := BuildRequestState{
		BuildRequestID: br.ID,
		Complete:       br.Complete,
		CompleteAt:     br.CompleteAt,
		Builds:         len(builds),
	}
	if br.Complete {
		r := br.Results
		st.Results = &r
	}
	last := ""
	for _, bd := range builds {
		if !bd.Complete {
			st.RunningBuilds++
		}
		if st.ClaimedAt == 0 {
			st.ClaimedAt = max(bd.StartedAt, 1)
		}
		last = bd.StateString
	}
	if br.Complete {
		st.Interrupted = buildbotrest.Interruption(br.Results, last, len(builds))
	}
	return st
}

// CancelRequest cancels a pending request and reads it back: Buildbot
// answers null whatever happened. A request that started meanwhile is
// left to CancelBuilds, which the workflow calls when it hears of the
// build.
func (b *buildbotREST) CancelRequest(ctx context.Context, brid int64) (CancelResult, error) {
	if err := b.api.CancelRequest(ctx, brid, "cancelled through the Taskcluster bridge"); err != nil {
		if errors.Is(err, buildbotrest.ErrNotFound) {
			b.log.InfoContext(ctx, "Buildbot does not know the buildrequest: nothing to cancel", "buildRequestId", brid)
			return CancelResult{}, nil
		}
		return CancelResult{}, restError(fmt.Sprintf("cancel buildrequest %d", brid), err)
	}
	st, err := b.Request(ctx, brid)
	if err != nil {
		return CancelResult{}, err
	}
	if st.Complete && st.Results != nil && *st.Results == buildbotrest.Cancelled {
		b.log.InfoContext(ctx, "buildrequest cancelled", "buildRequestId", brid)
		return CancelResult{Requested: 1}, nil
	}
	b.log.InfoContext(ctx, "buildrequest not cancelled: it is no longer pending", "buildRequestId", brid,
		"complete", st.Complete, "runningBuilds", st.RunningBuilds)
	return CancelResult{}, nil
}

// CancelBuilds stops each unfinished build of the request. The reply says
// nothing, and a stop takes a moment to land: the build's CANCELLED finish
// is what the workflow waits for.
func (b *buildbotREST) CancelBuilds(ctx context.Context, brid int64) (CancelResult, error) {
	builds, err := b.api.Builds(ctx, brid)
	if err != nil {
		return CancelResult{}, restError(fmt.Sprintf("read the builds of buildrequest %d", brid), err)
	}
	var res CancelResult
	for _, bd := range builds {
		if bd.Complete {
			continue
		}
		if err := b.api.StopBuild(ctx, bd.ID, "cancelled through the Taskcluster bridge"); err != nil {
			return res, restError(fmt.Sprintf("stop build %d", bd.ID), err)
		}
		res.Requested++
		b.log.InfoContext(ctx, "build stop requested", "buildRequestId", brid, "buildId", bd.ID, "buildNumber", bd.Number)
	}
	return res, nil
}

// Cancelled reads the requests completed CANCELLED since the watermark,
// minus a settling window, and keeps those of ours that never had a build
// (a cancelled build reports itself through its finish).
func (b *buildbotREST) Cancelled(ctx context.Context, from Watermark, limit int) ([]CancelledRequest, Watermark, error) {
	since := max(from.CompleteAt-cancelledSettle, 0)
	reqs, err := b.api.CancelledSince(ctx, since, limit)
	if err != nil {
		return nil, Watermark{}, restError("read cancelled buildrequests", err)
	}
	// A request's complete_at never changes, so a request seen before is
	// kept or dropped below exactly as it was then.
	prev := make(map[int64]bool, len(from.Seen))
	for _, s := range from.Seen {
		prev[s.ID] = true
	}
	next := Watermark{CompleteAt: from.CompleteAt, BuildRequestID: from.BuildRequestID}
	var out []CancelledRequest
	for _, r := range reqs {
		next.CompleteAt = max(next.CompleteAt, r.CompleteAt)
		next.BuildRequestID = max(next.BuildRequestID, r.ID)
		if prev[r.ID] {
			continue
		}
		taskID := buildbotrest.TaskID(r.Properties)
		if taskID == "" {
			continue
		}
		// Buildbot claims a pending request to cancel it, so only the
		// absence of builds tells a request cancelled before it started.
		builds, err := b.api.Builds(ctx, r.ID)
		if err != nil {
			return nil, Watermark{}, restError(fmt.Sprintf("read the builds of buildrequest %d", r.ID), err)
		}
		if len(builds) == 0 {
			out = append(out, CancelledRequest{TaskID: taskID, BuildRequestID: r.ID})
		}
	}
	// Keep only what the next pass re-reads.
	reread := func(completeAt int64) bool { return completeAt >= next.CompleteAt-cancelledSettle }
	for _, s := range from.Seen {
		if reread(s.CompleteAt) {
			next.Seen = append(next.Seen, s)
		}
	}
	for _, r := range reqs {
		if reread(r.CompleteAt) && !prev[r.ID] {
			next.Seen = append(next.Seen, SeenRequest{ID: r.ID, CompleteAt: r.CompleteAt})
		}
	}
	return out, next, nil
}

// References link the run to the build's page and to the raw text of each
// of its step logs.
func (b *buildbotREST) References(ctx context.Context, brid, buildID int64) ([]Reference, error) {
	if buildID == 0 {
		return nil, nil
	}
	builds, err := b.api.Builds(ctx, brid)
	if err != nil {
		return nil, restError(fmt.Sprintf("read the builds of buildrequest %d", brid), err)
	}
	var refs []Reference
	for _, bd := range builds {
		if bd.ID == buildID {
			refs = append(refs, Reference{Name: BuildPageArtifact, URL: b.api.BuildURL(bd.BuilderID, bd.Number), ContentType: "text/html"})
		}
	}
	logs, err := b.api.BuildLogs(ctx, buildID)
	if err != nil {
		return nil, restError(fmt.Sprintf("read the logs of build %d", buildID), err)
	}
	for _, l := range logs {
		refs = append(refs, Reference{
			Name:        fmt.Sprintf("public/logs/%d-%s-%s.txt", l.StepNumber, artifactSafe(l.StepName), artifactSafe(l.Slug)),
			URL:         l.RawURL,
			ContentType: "text/plain",
		})
	}
	return refs, nil
}

// BuildPageArtifact is the reference artifact to a modern Buildbot build's
// page in its web UI.
const BuildPageArtifact = "public/buildbot/build.html"

var unsafeArtifactChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func artifactSafe(s string) string {
	s = strings.Trim(unsafeArtifactChars.ReplaceAllString(s, "_"), "_")
	if s == "" {
		return "log"
	}
	return s
}

// restError keeps 5xx and network failures retryable and makes refusals
// final.
func restError(what string, err error) error {
	if buildbotrest.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("buildbot: %s: %v", what, err), ErrBuildbotRejected, nil)
	}
	return fmt.Errorf("buildbot: %s: %w", what, err)
}
