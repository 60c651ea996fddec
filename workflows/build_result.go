package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// public/build-result.json. The workflow assembles the document from what
// it knows (the finished event, or the BuildRequest row, and its state)
// and hands it to CreateArtifacts, which only uploads it: the workflow does
// no I/O, and the document must say what the workflow decided.

// eventResult is the document of a build the finished event describes.
// Its Taskcluster field is filled once the workflow knows the call.
func (t *task) eventResult(ev signals.BuildFinished) *activities.BuildResult {
	doc := newBuildResult(ev.Results, activities.BuildResultFromEvent, ev.BuildRequestID)
	builder := ev.BuilderName
	if builder == "" {
		builder = t.s.BuilderName
	}
	number := ev.BuildNumber
	doc.Builder, doc.BuildNumber, doc.Master = optional(builder), &number, optional(ev.Master)
	doc.StartedAt, doc.FinishedAt = optionalTime(ev.StartedAt), optionalTime(ev.FinishedAt)
	return doc
}

// rowArtifacts is what a run resolved from its BuildRequest row gets
// attached: only public/build-result.json, since no finished event brought
// the build's properties or logs. The row names no build, so the build
// number, master and times are null. Before versionBuildResultArtifact
// such a run got no artifact at all (nil).
func (t *task) rowArtifacts(ctx workflow.Context, results *int) *activities.ArtifactsInput {
	if workflow.GetVersion(ctx, versionBuildResultArtifact, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	code := -1
	if results != nil {
		code = *results
	}
	doc := newBuildResult(code, activities.BuildResultFromRow, t.s.BuildRequestID)
	doc.Builder = optional(t.s.BuilderName)
	return &activities.ArtifactsInput{
		TaskID:         t.id,
		Expires:        t.s.Expires,
		BuildRequestID: t.s.BuildRequestID,
		NoProperties:   true,
		BuildResult:    doc,
	}
}

func newBuildResult(results int, source string, brid int64) *activities.BuildResult {
	name, treeherder := describeResult(results, false)
	return &activities.BuildResult{
		Buildbot:       activities.BuildbotResult{Result: name, Code: results},
		Treeherder:     treeherder,
		BuildRequestID: brid,
		Source:         source,
	}
}

// markInterrupted records why Buildbot ended the request on its own
// account; Treeherder then shows a retry whatever the code says.
func markInterrupted(art *activities.ArtifactsInput, why string) {
	if art == nil || art.BuildResult == nil {
		return
	}
	doc := art.BuildResult
	doc.Interrupted = &why
	_, doc.Treeherder = describeResult(doc.Buildbot.Code, true)
}

// noResolution is the document's Taskcluster field for a finish that came
// after TC had ended the run (a cancel, a deadline, an operator).
func (t *task) noResolution() activities.TCResolution {
	why := t.s.EndedBecause
	if why == "" {
		why = "TC had already ended the run"
	}
	return activities.TCResolution{Call: "none", Why: why}
}

// tcResolution is the queue call report makes for how.
func tcResolution(how resolution) activities.TCResolution {
	switch how {
	case resolveCompleted:
		return activities.TCResolution{Call: "reportCompleted"}
	case resolveFailed:
		return activities.TCResolution{Call: "reportFailed"}
	case resolveMalformed:
		return activities.TCResolution{Call: "reportException", Reason: reasonMalformedPayload}
	case resolveRetry, resolveInterrupted:
		return activities.TCResolution{Call: "reportException", Reason: reasonWorkerShutdown}
	case resolveCancelled:
		return activities.TCResolution{Call: "cancelTask"}
	}
	return activities.TCResolution{Call: "none"}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
