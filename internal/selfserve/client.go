// Package selfserve is a client of BuildAPI's self-serve cancel endpoints,
// through which the bridge cancels Buildbot BuildRequests and builds
// (REFERENCE §D). Cancels are asynchronous on BuildAPI's side: a 202 means
// the job was queued, not that the request or build is gone yet.
package selfserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RemoteUser is who the bridge says it is to BuildAPI; self-serve refuses
// a call without X-Remote-User.
const RemoteUser = "buildbot-bridge"

// DefaultTimeout bounds one call when the caller's context allows longer.
const DefaultTimeout = 30 * time.Second

// ErrNotFound is what a 404 answer unwraps to. On a request cancel it is
// routine (cancelling right after scheduling, bug 1323013) and callers
// ignore it.
var ErrNotFound = errors.New("selfserve: not found")

// Client calls one self-serve service.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
}

// New returns a client of the self-serve service at baseURL (e.g.
// http://buildapi.example/buildapi/self-serve). A nil httpClient means
// http.DefaultClient.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient, timeout: DefaultTimeout}
}

// CancelRequest asks self-serve to cancel BuildRequest brid of branch (the
// last path element of the sourcestamp's branch).
func (c *Client) CancelRequest(ctx context.Context, branch string, brid int64) error {
	return c.delete(ctx, branch, "request", brid)
}

// CancelBuild asks self-serve to stop the build with builds.id buildID (not
// its number) of branch.
func (c *Client) CancelBuild(ctx context.Context, branch string, buildID int64) error {
	return c.delete(ctx, branch, "build", buildID)
}

func (c *Client) delete(ctx context.Context, branch, kind string, id int64) error {
	if branch == "" {
		return &StatusError{Path: "/" + kind + "/" + strconv.FormatInt(id, 10), Message: "empty branch"}
	}
	path := "/" + url.PathEscape(branch) + "/" + kind + "/" + strconv.FormatInt(id, 10)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+path, nil)
	if err != nil {
		// The base URL may carry credentials: name only the path.
		return &StatusError{Path: path, Message: "bad self-serve URL"}
	}
	req.Header.Set("X-Remote-User", RemoteUser)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("selfserve: DELETE %s: %w", path, transportCause(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		return nil
	}
	return &StatusError{Path: path, StatusCode: resp.StatusCode, Message: failureMessage(body)}
}

// transportCause drops the *url.Error wrapper, whose text repeats the full
// URL, keeping what went wrong.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// failureMessage is the "msg" of BuildAPI's {"msg", "status": "FAILED"}
// body, or the start of whatever else came back.
func failureMessage(body []byte) string {
	var f struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal(body, &f) == nil && f.Msg != "" {
		return f.Msg
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// StatusError is a non-2xx answer from self-serve.
type StatusError struct {
	Path       string // the path below the base URL
	StatusCode int    // 0 when the call was refused before it was sent
	Message    string
}

func (e *StatusError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("selfserve: DELETE %s: %s", e.Path, e.Message)
	}
	return fmt.Sprintf("selfserve: DELETE %s: %d %s: %s", e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap makes a 404 match ErrNotFound.
func (e *StatusError) Unwrap() error {
	if e.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// IsPermanent reports whether repeating the call cannot help: self-serve
// refused it (4xx) or it could not be made. A 5xx (BuildAPI's broker or DB
// down) or a network error is worth retrying.
func IsPermanent(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch {
	case se.StatusCode == http.StatusRequestTimeout, se.StatusCode == http.StatusTooManyRequests:
		return false
	default:
		return se.StatusCode < 500
	}
}
