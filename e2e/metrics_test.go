package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// scrape reads a process's /metrics as Prometheus would, summing each
// series over the labels not named in match.
type scrapeResult map[string][]*model.Sample

func (e *env) scrape(addr string) scrapeResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s/metrics: %s", addr, resp.Status)
	}
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	out := scrapeResult{}
	for name, f := range families {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, f)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range vec {
			n := string(s.Metric[model.MetricNameLabel])
			if n == "" {
				n = name
			}
			out[n] = append(out[n], s)
		}
	}
	return out
}

// sum adds up the samples of name whose labels include every pair of
// match.
func (r scrapeResult) sum(name string, match ...string) float64 {
	total := 0.0
	for _, s := range r[name] {
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if string(s.Metric[model.LabelName(match[i])]) != match[i+1] {
				ok = false
			}
		}
		if ok {
			total += float64(s.Value)
		}
	}
	return total
}

// Scenario: after one task's lifecycle the series an operator watches have
// moved by what happened. Not parallel: the bridge's metrics are per
// process, and the e2e scenarios share this one.
func TestMetricsAfterALifecycle(t *testing.T) {
	workerAddr, starterAddr := freeAddr(t), freeAddr(t)
	e := newEnv(t, envOptions{
		// A build longer than the claim period, so the run is reclaimed.
		ClaimTimeout: 3 * time.Second,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 5 * time.Second}),
		Config: func(raw map[string]any) {
			raw["worker"] = map[string]any{"listen": workerAddr}
			raw["starter"] = map[string]any{"listen": starterAddr}
		},
	})
	before := e.scrape(workerAddr)
	taskID := e.createTask(taskSpec{Builder: "linux64 metrics build", Branch: "https://hg.mozilla.org/mozilla-central"})
	e.waitRunState(taskID, 0, "completed", "completed", 60*time.Second)
	e.waitWorkflowClosed(taskID, 30*time.Second)

	var after scrapeResult
	moved := []struct {
		name  string
		match []string
		want  float64
	}{
		{"bbb_pulse_messages_total", []string{"queue", "queue/bbb-e2e/task-pending", "outcome", "acked"}, 1},
		{"bbb_pulse_messages_total", []string{"queue", "queue/bbb-e2e/log_uploaded", "outcome", "acked"}, 1},
		{"bbb_signals_total", []string{"signal", "task-pending", "outcome", "ok"}, 1},
		{"bbb_signals_total", []string{"signal", "build-finished", "outcome", "ok"}, 1},
		{"bbb_tc_calls_total", []string{"method", "claimTask", "status", "2xx"}, 1},
		{"bbb_tc_calls_total", []string{"method", "reportCompleted", "status", "2xx"}, 1},
		{"bbb_buildbot_calls_total", []string{"backend", "buildbot-0.8", "operation", "inject", "outcome", "ok"}, 1},
		{"bbb_task_started_total", nil, 1},
		{"bbb_task_ended_total", []string{"phase", "resolved"}, 1},
		{"bbb_build_results_total", []string{"result", "success"}, 1},
	}
	reclaims := func(r scrapeResult) float64 { return r.sum("bbb_reclaim_lead_seconds_count") }
	// Workflow metrics are reported when the SDK flushes (every second).
	e.waitFor(20*time.Second, "the lifecycle's metrics", func() bool {
		after = e.scrape(workerAddr)
		for _, m := range moved {
			if after.sum(m.name, m.match...)-before.sum(m.name, m.match...) < m.want {
				return false
			}
		}
		return true
	})
	if reclaims(after) <= reclaims(before) {
		t.Error("bbb_reclaim_lead_seconds did not record the reclaims")
	}
	for _, m := range moved {
		if d := after.sum(m.name, m.match...) - before.sum(m.name, m.match...); d != m.want {
			t.Errorf("%s%v moved by %v, want %v", m.name, m.match, d, m.want)
		}
	}
	// The SDK's own series, named as Temporal's Go SDK dashboard expects.
	for _, name := range []string{"temporal_workflow_completed_total", "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
		"temporal_request_total", "temporal_sticky_cache_size"} {
		if len(after[name]) == 0 {
			t.Errorf("the scrape has no %s", name)
		}
	}
	if st := e.scrape(starterAddr); len(st["bbb_pulse_messages_total"]) == 0 {
		t.Error("the starter's /metrics has no bbb_pulse_messages_total")
	}
	checkDashboard(t, after)
}
