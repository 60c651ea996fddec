package buildbotrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PropertiesParam is the force parameter of contrib/buildbot's
// bridge_scheduler that carries the request's properties as one JSON
// object. The force endpoint drops parameters a scheduler does not
// declare, so the name must match the scheduler's.
const PropertiesParam = "bridge_properties"

// Sourcestamp is the code a request builds.
type Sourcestamp struct {
	Branch, Revision, Repository, Project string
}

// Property is one build property; Value is any JSON value.
type Property struct {
	Name  string
	Value json.RawMessage
}

// ForceRequest asks a force scheduler for one build request on one builder.
type ForceRequest struct {
	Scheduler string // a force scheduler made by bridge_scheduler
	Builder   string
	Reason    string // "" leaves Buildbot's default
	// Username is who the request is by when the client is anonymous; it
	// must look like "Name <email>". A logged-in client is its user.
	Username    string
	Sourcestamp Sourcestamp
	Properties  []Property // sent in this order; names must be unique
}

// Force creates the request and returns its buildset and request ids.
// Buildbot creates it before it answers, so a lost answer leaves a request
// the caller did not hear of: look for it with FindRequests before forcing
// again.
func (c *Client) Force(ctx context.Context, req ForceRequest) (buildsetID, buildRequestID int64, err error) {
	props, err := propertiesObject(req.Properties)
	if err != nil {
		return 0, 0, err
	}
	if req.Scheduler == "" || req.Builder == "" {
		return 0, 0, fmt.Errorf("%w: force needs a scheduler and a builder", ErrInvalidRequest)
	}
	params := map[string]any{
		"builderNames":  []string{req.Builder},
		"branch":        req.Sourcestamp.Branch,
		"revision":      req.Sourcestamp.Revision,
		"repository":    req.Sourcestamp.Repository,
		"project":       req.Sourcestamp.Project,
		PropertiesParam: props,
	}
	if req.Reason != "" {
		params["reason"] = req.Reason
	}
	if req.Username != "" {
		params["username"] = req.Username
	}
	path := "api/v2/forceschedulers/" + url.PathEscape(req.Scheduler)
	var result []json.RawMessage
	err = c.call(ctx, path, nil, "force", params, &result)
	if err != nil {
		return 0, 0, forceError(req, err)
	}
	return forceResult(path, result)
}

// forceResult reads [bsid, {"<builderid>": brid}].
func forceResult(path string, result []json.RawMessage) (int64, int64, error) {
	bad := func(why string) (int64, int64, error) {
		return 0, 0, fmt.Errorf("buildbotrest: POST %s (force): unexpected result: %s", path, why)
	}
	if len(result) != 2 {
		return bad(fmt.Sprintf("%d elements, want [buildsetid, {builderid: brid}]", len(result)))
	}
	var bsid int64
	var brids map[string]int64
	if json.Unmarshal(result[0], &bsid) != nil || json.Unmarshal(result[1], &brids) != nil {
		return bad("not [buildsetid, {builderid: brid}]")
	}
	if len(brids) != 1 {
		return bad(fmt.Sprintf("%d build requests, want 1", len(brids)))
	}
	var brid int64
	for _, id := range brids {
		brid = id
	}
	return bsid, brid, nil
}

// forceError recognises Buildbot's answers to a force through an unknown
// scheduler or onto a builder the scheduler cannot use. Both are Python
// exceptions reported as JSON-RPC internal errors (HTTP 500), which would
// otherwise look worth retrying.
func forceError(req ForceRequest, err error) error {
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusInternalServerError || he.RPCCode != rpcInternalError {
		return err
	}
	switch {
	case strings.Contains(he.Body, "builderNames not specified or not supported"):
		return &UnknownBuilderError{Scheduler: req.Scheduler, Builder: req.Builder, Err: he}
	case strings.Contains(he.Body, "has no attribute 'force'"):
		return fmt.Errorf("%w %q: %w", ErrUnknownScheduler, req.Scheduler, he)
	}
	return err
}

// propertiesObject writes the properties as one JSON object in their
// order. Values are checked here: a bad one would otherwise spoil the
// whole request body.
func propertiesObject(props []Property) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]bool, len(props))
	for i, p := range props {
		if p.Name == "" {
			return nil, fmt.Errorf("%w: property %d has no name", ErrInvalidRequest, i)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: property %q given twice", ErrInvalidRequest, p.Name)
		}
		seen[p.Name] = true
		if !json.Valid(p.Value) {
			return nil, fmt.Errorf("%w: property %q: value is not JSON", ErrInvalidRequest, p.Name)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(p.Name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(bytes.TrimSpace(p.Value))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
