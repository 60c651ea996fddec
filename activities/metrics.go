package activities

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
)

// countedBuildbot counts every call to Buildbot per backend, operation and
// outcome; the backends themselves stay free of metrics.
type countedBuildbot struct {
	inner   Buildbot
	backend string
}

func counted(bb Buildbot) Buildbot {
	backend := "other"
	switch bb.(type) {
	case *buildbot08:
		backend = "buildbot-0.8"
	case *buildbotREST:
		backend = "buildbot-rest"
	}
	for _, op := range []string{"inject", "read_request", "cancel_request", "cancel_builds", "find_cancelled"} {
		for _, outcome := range []string{"ok", "rejected", "error"} {
			metrics.Zero(metrics.BuildbotCalls, []string{backend, op, outcome})
		}
	}
	if _, ok := bb.(adopter); ok {
		return countedAdopter{countedBuildbot{bb, backend}}
	}
	return countedBuildbot{bb, backend}
}

func (c countedBuildbot) count(op string, err error) {
	outcome := "ok"
	var app *temporal.ApplicationError
	switch {
	case err == nil:
	case errors.As(err, &app) && app.NonRetryable():
		outcome = "rejected"
	default:
		outcome = "error"
	}
	metrics.BuildbotCalls.WithLabelValues(c.backend, op, outcome).Inc()
}

func (c countedBuildbot) Inject(ctx context.Context, in InjectInput) (InjectResult, error) {
	r, err := c.inner.Inject(ctx, in)
	c.count("inject", err)
	return r, err
}

func (c countedBuildbot) Request(ctx context.Context, brid int64) (BuildRequestState, error) {
	r, err := c.inner.Request(ctx, brid)
	c.count("read_request", err)
	return r, err
}

func (c countedBuildbot) CancelRequest(ctx context.Context, brid int64) (CancelResult, error) {
	r, err := c.inner.CancelRequest(ctx, brid)
	c.count("cancel_request", err)
	return r, err
}

func (c countedBuildbot) CancelBuilds(ctx context.Context, brid int64) (CancelResult, error) {
	r, err := c.inner.CancelBuilds(ctx, brid)
	c.count("cancel_builds", err)
	return r, err
}

func (c countedBuildbot) Cancelled(ctx context.Context, from Watermark, limit int) ([]CancelledRequest, Watermark, error) {
	r, w, err := c.inner.Cancelled(ctx, from, limit)
	c.count("find_cancelled", err)
	return r, w, err
}

func (c countedBuildbot) References(ctx context.Context, brid, buildID int64) ([]Reference, error) {
	r, err := c.inner.References(ctx, brid, buildID)
	c.count("references", err)
	return r, err
}

// countedAdopter keeps a backend's adoption visible through the wrapper.
type countedAdopter struct{ countedBuildbot }

func (c countedAdopter) unadopted(ctx context.Context, limit int) ([]adoptable, error) {
	r, err := c.inner.(adopter).unadopted(ctx, limit)
	c.count("find_unadopted", err)
	return r, err
}

func (c countedAdopter) markAdopted(ctx context.Context, taskID string, brid int64) error {
	err := c.inner.(adopter).markAdopted(ctx, taskID, brid)
	c.count("mark_adopted", err)
	return err
}

// countedHTTP counts the queue client's calls per API method and status
// class. It follows no redirect, as the client's own default does: an
// artifact's 303 is an answer, not a hop.
type countedHTTP struct{ client *http.Client }

func newCountedHTTP() tcclient.ReducedHTTPClient {
	for _, r := range queueRoutes {
		for _, status := range []string{"2xx", "4xx", "5xx", "error"} {
			metrics.Zero(metrics.TCCalls, []string{r.name, status})
		}
	}
	return countedHTTP{client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c countedHTTP) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.client.Do(req)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	metrics.TCCalls.WithLabelValues(queueMethod(req.Method, req.URL.Path), status).Inc()
	return resp, err
}

// queueRoutes name the queue API's routes the bridge calls, by the end of
// their path (REFERENCE: the queue's v1 API).
var queueRoutes = []struct {
	method string
	path   *regexp.Regexp
	name   string
}{
	{http.MethodGet, regexp.MustCompile(`/task/[^/]+/status$`), "status"},
	{http.MethodGet, regexp.MustCompile(`/task/[^/]+$`), "task"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/claim$`), "claimTask"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/reclaim$`), "reclaimTask"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/completed$`), "reportCompleted"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/failed$`), "reportFailed"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/exception$`), "reportException"},
	{http.MethodPost, regexp.MustCompile(`/runs/[^/]+/artifacts/.+$`), "createArtifact"},
	{http.MethodPost, regexp.MustCompile(`/task/[^/]+/rerun$`), "rerunTask"},
	{http.MethodPost, regexp.MustCompile(`/task/[^/]+/cancel$`), "cancelTask"},
}

func queueMethod(method, path string) string {
	for _, r := range queueRoutes {
		if r.method == method && r.path.MatchString(path) {
			return r.name
		}
	}
	return "other"
}
