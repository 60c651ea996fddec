package buildbotrest

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// Buildbot's result codes the client's callers meet most.
const (
	Success   = 0
	Warnings  = 1
	Failure   = 2
	Skipped   = 3
	Exception = 4
	Retry     = 5
	Cancelled = 6
)

// pageSize bounds each page a listing reads.
const pageSize = 200

func (c *Client) listPage() int {
	if c.pageSize > 0 {
		return c.pageSize
	}
	return pageSize
}

// BuildRequest is a request as the master sees it. Times are Unix seconds,
// 0 when not (or no longer) set: a RETRY puts a request back to unclaimed
// and clears its claim.
type BuildRequest struct {
	ID, BuildsetID, BuilderID          int64
	Claimed, Complete                  bool
	ClaimedAt, CompleteAt, SubmittedAt int64
	Results                            int // -1 until complete
	// Properties are {name: [value, source]}, filled only by the calls that
	// say they ask for them.
	Properties map[string][2]any
}

type wireRequest struct {
	ID          int64             `json:"buildrequestid"`
	BuildsetID  int64             `json:"buildsetid"`
	BuilderID   int64             `json:"builderid"`
	Claimed     bool              `json:"claimed"`
	Complete    bool              `json:"complete"`
	ClaimedAt   *int64            `json:"claimed_at"`
	CompleteAt  *int64            `json:"complete_at"`
	SubmittedAt *int64            `json:"submitted_at"`
	Results     *int              `json:"results"`
	Properties  map[string][2]any `json:"properties"`
}

func (w wireRequest) request() BuildRequest {
	br := BuildRequest{
		ID: w.ID, BuildsetID: w.BuildsetID, BuilderID: w.BuilderID,
		Claimed: w.Claimed, Complete: w.Complete,
		ClaimedAt: orZero(w.ClaimedAt), CompleteAt: orZero(w.CompleteAt), SubmittedAt: orZero(w.SubmittedAt),
		Results:    -1,
		Properties: w.Properties,
	}
	if w.Results != nil {
		br.Results = *w.Results
	}
	return br
}

func orZero(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

type requestsReply struct {
	BuildRequests []wireRequest `json:"buildrequests"`
}

func (r requestsReply) requests() []BuildRequest {
	out := make([]BuildRequest, len(r.BuildRequests))
	for i, w := range r.BuildRequests {
		out[i] = w.request()
	}
	return out
}

// BuildRequest reads one request, without its properties. A request the
// master does not have is ErrNotFound.
func (c *Client) BuildRequest(ctx context.Context, brid int64) (BuildRequest, error) {
	return c.buildRequest(ctx, brid, nil)
}

// BuildRequestProperties reads one request with all its properties.
func (c *Client) BuildRequestProperties(ctx context.Context, brid int64) (BuildRequest, error) {
	return c.buildRequest(ctx, brid, url.Values{"property": {"*"}})
}

func (c *Client) buildRequest(ctx context.Context, brid int64, query url.Values) (BuildRequest, error) {
	path := "api/v2/buildrequests/" + strconv.FormatInt(brid, 10)
	var r requestsReply
	if err := c.call(ctx, path, query, "", nil, &r); err != nil {
		return BuildRequest{}, err
	}
	if len(r.BuildRequests) != 1 {
		return BuildRequest{}, fmt.Errorf("buildbotrest: GET %s: %d build requests in the reply, want 1", path, len(r.BuildRequests))
	}
	return r.BuildRequests[0].request(), nil
}

// FindRequests lists the requests on the builder whose taskId property is
// taskID, oldest first, with their taskId property. incompleteOnly leaves
// out finished ones. It is how a retried inject finds the request an
// earlier, unanswered force created.
func (c *Client) FindRequests(ctx context.Context, builderID int64, taskID string, incompleteOnly bool) ([]BuildRequest, error) {
	path := "api/v2/builders/" + strconv.FormatInt(builderID, 10) + "/buildrequests"
	var found []BuildRequest
	// Buildbot cannot filter on a property's value: read every request
	// page by page. Pages follow the id, not an offset, so requests that
	// complete meanwhile cannot shift one out of sight.
	var after int64
	for {
		q := url.Values{
			"property":           {"taskId"},
			"order":              {"buildrequestid"},
			"limit":              {strconv.Itoa(c.listPage())},
			"buildrequestid__gt": {strconv.FormatInt(after, 10)},
		}
		if incompleteOnly {
			q.Set("complete", "false")
		}
		var r requestsReply
		if err := c.call(ctx, path, q, "", nil, &r); err != nil {
			return nil, err
		}
		for _, br := range r.requests() {
			if v, ok := br.Properties["taskId"]; ok && v[0] == taskID {
				found = append(found, br)
			}
			after = max(after, br.ID)
		}
		if len(r.BuildRequests) < c.listPage() {
			return found, nil
		}
	}
}

// CancelledSince lists up to limit requests completed CANCELLED at or
// after completeAt (Unix seconds), ordered by completion time then id,
// with their taskId property (absent on requests not made by the bridge).
// limit <= 0 means 200.
func (c *Client) CancelledSince(ctx context.Context, completeAt int64, limit int) ([]BuildRequest, error) {
	if limit <= 0 {
		limit = pageSize
	}
	q := url.Values{
		"complete":        {"true"},
		"results":         {strconv.Itoa(Cancelled)},
		"complete_at__ge": {strconv.FormatInt(completeAt, 10)},
		"order":           {"complete_at", "buildrequestid"},
		"limit":           {strconv.Itoa(limit)},
		"property":        {"taskId"},
	}
	var r requestsReply
	if err := c.call(ctx, "api/v2/buildrequests", q, "", nil, &r); err != nil {
		return nil, err
	}
	return r.requests(), nil
}

// CancelRequest asks the master to cancel the request: a pending one
// completes CANCELLED; a running one has its build stopped. Buildbot
// answers the same whatever happened, a finished or unknown request
// included, and skips a request caught between its claim and its build's
// start: read the request back to learn the outcome.
func (c *Client) CancelRequest(ctx context.Context, brid int64, reason string) error {
	path := "api/v2/buildrequests/" + strconv.FormatInt(brid, 10)
	return c.call(ctx, path, nil, "cancel", map[string]string{"reason": reason}, nil)
}
