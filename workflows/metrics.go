package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/metrics"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Metrics go through the SDK's handler, which records nothing while a
// workflow replays, so a count is made once per real event.

func count(ctx workflow.Context, name string, tags map[string]string) {
	h := workflow.GetMetricsHandler(ctx)
	if len(tags) > 0 {
		h = h.WithTags(tags)
	}
	h.Counter(name).Inc(1)
}

func countTaskStarted(ctx workflow.Context) { count(ctx, metrics.TaskStarted, nil) }

func countTaskEnded(ctx workflow.Context, phase string) {
	count(ctx, metrics.TaskEnded, map[string]string{"phase": phase})
}

func countBuildResult(ctx workflow.Context, results int) {
	count(ctx, metrics.BuildResults, map[string]string{"result": resultLabel(results)})
}

// resultLabel is a Buildbot result as a metric label: the name, lower case,
// and "unknown" for codes outside the known seven (a label per code would
// not be bounded).
func resultLabel(results int) string {
	if results < signals.ResultSuccess || results > signals.ResultCancelled {
		return "unknown"
	}
	return strings.ToLower(resultName(results))
}

func recordReclaimLead(ctx workflow.Context, lead time.Duration) {
	workflow.GetMetricsHandler(ctx).Timer(metrics.ReclaimLead).Record(lead)
}

func countReclaimRefused(ctx workflow.Context, reason string) {
	count(ctx, metrics.ReclaimsRefused, map[string]string{"reason": reason})
}

func countSweep(ctx workflow.Context, res activities.SweepResult) {
	count(ctx, metrics.SweepPasses, nil)
	h := workflow.GetMetricsHandler(ctx)
	h.WithTags(map[string]string{"kind": "cancelled"}).Counter(metrics.SweepFindings).Inc(int64(len(res.Cancelled)))
	h.WithTags(map[string]string{"kind": "adopted"}).Counter(metrics.SweepFindings).Inc(int64(res.Adopted))
}
