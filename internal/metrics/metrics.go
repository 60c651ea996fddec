// Package metrics is the bridge's Prometheus metrics: the Temporal SDK's own
// (through its tally integration, so Temporal's published Go SDK dashboard
// works unchanged) and the bridge's, all in one registry that each process
// serves on /metrics beside /healthz.
//
// Labels are low-cardinality only: queue, signal, method, operation,
// outcome, result; never a taskId or a BuildRequest id.
package metrics

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Registry holds every metric of the process. Not Prometheus's global
// default: libraries that register there (the embedded Temporal server of
// the tests and the demo) must not mix into the bridge's series.
var Registry = prometheus.NewRegistry()

// The bridge's own metrics. Their names are the contract with the
// dashboard (deploy/grafana) and the README's list.
var (
	PulseMessages = newCounter("bbb_pulse_messages_total",
		"Pulse messages handled, per queue and outcome (acked, dead_lettered, requeued).", "queue", "outcome")
	Pushes = newCounter("bbb_buildbot_pushes_total",
		"Pushes from a modern Buildbot master, per event and outcome (delivered, ignored, unauthorized, bad_request, too_large, not_delivered).", "event", "outcome")
	Signals = newCounter("bbb_signals_total",
		"Signals the starter sent to task workflows, per signal and outcome (ok, no_workflow, error).", "signal", "outcome")
	TCCalls = newCounter("bbb_tc_calls_total",
		"Calls to the Taskcluster queue, per method and status class (2xx, 4xx, 5xx, error).", "method", "status")
	BuildbotCalls = newCounter("bbb_buildbot_calls_total",
		"Calls to Buildbot (0.8: scheduler DB and self-serve; modern: REST API), per backend, operation and outcome (ok, rejected, error).", "backend", "operation", "outcome")
)

// Metrics the workflows record through the SDK's metrics handler
// (workflow.GetMetricsHandler), which stays silent while a workflow
// replays; they reach the registry through the SDK handler, under these
// names plus the Prometheus suffixes (_total, _seconds).
const (
	TaskStarted       = "bbb_task_started"        // counter
	TaskEnded         = "bbb_task_ended"          // counter, tag phase
	BuildResults      = "bbb_build_results"       // counter, tag result
	ReclaimLead       = "bbb_reclaim_lead"        // timer: how long before takenUntil a reclaim was answered
	ReclaimsRefused   = "bbb_reclaims_refused"    // counter, tag reason
	ClaimExpiredFound = "bbb_claim_expired_found" // counter
	SweepPasses       = "bbb_sweep_passes"        // counter
	SweepFindings     = "bbb_sweep_findings"      // counter, tag kind (cancelled, adopted)
)

func newCounter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(c)
	return c
}

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series exported at zero from the start, so a dashboard or an alert
	// sees "none yet" rather than "no data".
	for event, outcomes := range map[string][]string{
		"build_started":     {"delivered", "ignored", "not_delivered"},
		"build_finished":    {"delivered", "ignored", "not_delivered"},
		"request_cancelled": {"delivered", "ignored", "not_delivered"},
		"other":             {"ignored"},
		"unknown":           {"unauthorized", "bad_request", "too_large"},
	} {
		for _, o := range outcomes {
			Pushes.WithLabelValues(event, o)
		}
	}
}

// Zero exports the series of vec for each label set at zero.
func Zero(vec *prometheus.CounterVec, labelSets ...[]string) {
	for _, ls := range labelSets {
		vec.WithLabelValues(ls...)
	}
}

var (
	sdkOnce    sync.Once
	sdkHandler client.MetricsHandler
)

// SDKHandler is the Temporal SDK's metrics handler over Registry: histogram
// timers, Prometheus naming, no prefix. A reporting error is logged, never
// a panic. One per process: both the worker's and the starter's clients
// report into the same series.
func SDKHandler(log *slog.Logger) client.MetricsHandler {
	sdkOnce.Do(func() {
		reporter := tallyprom.NewReporter(tallyprom.Options{
			Registerer:       Registry,
			Gatherer:         Registry,
			DefaultTimerType: tallyprom.HistogramTimerType,
			OnRegisterError: func(err error) {
				log.Warn("metrics: the SDK's metric could not be registered", "err", err)
			},
		})
		scope, _ := tally.NewRootScope(tally.ScopeOptions{
			CachedReporter:  reporter,
			Separator:       tallyprom.DefaultSeparator,
			SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		}, time.Second)
		sdkHandler = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	})
	return sdkHandler
}
