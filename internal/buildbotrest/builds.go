package buildbotrest

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// Build is one attempt at a request. A request has several after RETRYs.
type Build struct {
	ID, Number, BuilderID, BuildRequestID, MasterID, WorkerID int64
	StartedAt, CompleteAt                                     int64 // Unix seconds, 0 when not set
	Complete                                                  bool
	Results                                                   *int // nil until complete
	StateString                                               string
}

type wireBuild struct {
	ID             int64  `json:"buildid"`
	Number         int64  `json:"number"`
	BuilderID      int64  `json:"builderid"`
	BuildRequestID int64  `json:"buildrequestid"`
	MasterID       int64  `json:"masterid"`
	WorkerID       int64  `json:"workerid"`
	StartedAt      *int64 `json:"started_at"`
	CompleteAt     *int64 `json:"complete_at"`
	Complete       bool   `json:"complete"`
	Results        *int   `json:"results"`
	StateString    string `json:"state_string"`
}

// Builds lists the builds of the request, oldest first.
func (c *Client) Builds(ctx context.Context, brid int64) ([]Build, error) {
	q := url.Values{"buildrequestid": {strconv.FormatInt(brid, 10)}, "order": {"buildid"}}
	var r struct {
		Builds []wireBuild `json:"builds"`
	}
	if err := c.call(ctx, "api/v2/builds", q, "", nil, &r); err != nil {
		return nil, err
	}
	out := make([]Build, len(r.Builds))
	for i, w := range r.Builds {
		out[i] = Build{
			ID: w.ID, Number: w.Number, BuilderID: w.BuilderID, BuildRequestID: w.BuildRequestID,
			MasterID: w.MasterID, WorkerID: w.WorkerID,
			StartedAt: orZero(w.StartedAt), CompleteAt: orZero(w.CompleteAt),
			Complete: w.Complete, Results: w.Results, StateString: w.StateString,
		}
	}
	return out, nil
}

// BuildProperties reads the build's properties as {name: [value, source]}.
// Buildbot answers an empty set, not 404, for a build it does not have.
func (c *Client) BuildProperties(ctx context.Context, buildID int64) (map[string][2]any, error) {
	path := "api/v2/builds/" + strconv.FormatInt(buildID, 10) + "/properties"
	var r struct {
		Properties []map[string][2]any `json:"properties"`
	}
	if err := c.call(ctx, path, nil, "", nil, &r); err != nil {
		return nil, err
	}
	if len(r.Properties) != 1 {
		return nil, fmt.Errorf("buildbotrest: GET %s: %d property sets in the reply, want 1", path, len(r.Properties))
	}
	return r.Properties[0], nil
}

// Log is one log of one step of a build.
type Log struct {
	StepNumber int
	StepName   string
	Name, Slug string
	RawURL     string // the log's whole text, plain
}

// BuildLogs lists the logs of every step of the build, in step order.
func (c *Client) BuildLogs(ctx context.Context, buildID int64) ([]Log, error) {
	var steps struct {
		Steps []struct {
			ID     int64  `json:"stepid"`
			Number int    `json:"number"`
			Name   string `json:"name"`
		} `json:"steps"`
	}
	path := "api/v2/builds/" + strconv.FormatInt(buildID, 10) + "/steps"
	if err := c.call(ctx, path, url.Values{"order": {"number"}}, "", nil, &steps); err != nil {
		return nil, err
	}
	var out []Log
	for _, s := range steps.Steps {
		var logs struct {
			Logs []struct {
				ID   int64  `json:"logid"`
				Name string `json:"name"`
				Slug string `json:"slug"`
			} `json:"logs"`
		}
		path := "api/v2/steps/" + strconv.FormatInt(s.ID, 10) + "/logs"
		if err := c.call(ctx, path, url.Values{"order": {"logid"}}, "", nil, &logs); err != nil {
			return nil, err
		}
		for _, l := range logs.Logs {
			out = append(out, Log{
				StepNumber: s.Number, StepName: s.Name, Name: l.Name, Slug: l.Slug,
				RawURL: c.root + "api/v2/logs/" + strconv.FormatInt(l.ID, 10) + "/raw",
			})
		}
	}
	return out, nil
}

// BuildURL is the build's page in the master's web UI.
func (c *Client) BuildURL(builderID, number int64) string {
	return fmt.Sprintf("%s#/builders/%d/builds/%d", c.root, builderID, number)
}

// Builder is one of the master's builders.
type Builder struct {
	ID   int64
	Name string
}

// Builders lists the master's builders. Ids are the master's to give: look
// them up, never assume them.
func (c *Client) Builders(ctx context.Context) ([]Builder, error) {
	var r struct {
		Builders []struct {
			ID   int64  `json:"builderid"`
			Name string `json:"name"`
		} `json:"builders"`
	}
	if err := c.call(ctx, "api/v2/builders", url.Values{"order": {"builderid"}}, "", nil, &r); err != nil {
		return nil, err
	}
	out := make([]Builder, len(r.Builders))
	for i, b := range r.Builders {
		out[i] = Builder{ID: b.ID, Name: b.Name}
	}
	return out, nil
}

// StopBuild asks the master to stop the build; it ends CANCELLED and its
// request is not built again. The answer is the same for a finished or
// unknown build: read the build back to learn the outcome.
func (c *Client) StopBuild(ctx context.Context, buildID int64, reason string) error {
	path := "api/v2/builds/" + strconv.FormatInt(buildID, 10)
	return c.call(ctx, path, nil, "stop", map[string]string{"reason": reason}, nil)
}
