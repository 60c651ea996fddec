// Package buildbotrest is a client of modern Buildbot's (3.x, 4.x) REST
// API, /api/v2, through which the bridge creates, reads, cancels and stops
// build requests and builds (REFERENCE §G), and the decoder of the events
// contrib/buildbot's reporter pushes to the bridge.
//
// Reads are anonymous. Control calls (force, cancel, stop) on a master
// with auth need a session, which the client gets by logging in with HTTP
// Basic when the master first refuses a call with 403, and again when a
// held session stops working.
package buildbotrest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCallTimeout bounds one call when Config.CallTimeout is 0.
const DefaultCallTimeout = 30 * time.Second

// sessionCookie is the cookie in which Buildbot's web server keeps the
// session.
const sessionCookie = "TWISTED_SESSION"

// A successful reply larger than this is refused rather than read into
// memory.
const maxReply = 64 << 20

// Config says which master to talk to and as whom.
type Config struct {
	// APIURL is the master's web root (its buildbotURL), e.g.
	// "https://buildbot.example/"; the REST API is below it at api/v2/.
	APIURL string
	// User and Password log in for control calls; an empty User stays
	// anonymous.
	User, Password string
	// HTTPClient nil means one of the client's own. Its cookie jar is
	// not used and redirects are not followed: the client holds the
	// session itself.
	HTTPClient *http.Client
	// CallTimeout bounds each HTTP exchange; 0 means DefaultCallTimeout.
	CallTimeout time.Duration
}

// Client calls one master. It is safe for concurrent use.
type Client struct {
	root     string // the web root, ending in "/"
	user     string
	password string
	http     *http.Client
	timeout  time.Duration
	rpcID    atomic.Int64

	mu      sync.Mutex
	session string // the logged-in TWISTED_SESSION value, "" when none

	loginMu sync.Mutex   // one login at a time
	logins  atomic.Int64 // successful logins, for tests
	// pageSize overrides the listings' page size, for tests.
	pageSize int
}

// New returns a client of the master at cfg.APIURL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.APIURL)
	if err != nil {
		// url.Parse's error repeats the URL, which may carry credentials.
		return nil, fmt.Errorf("%w: APIURL is not a URL", ErrInvalidRequest)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: APIURL must be an absolute http(s) URL", ErrInvalidRequest)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: APIURL must not carry credentials; set User and Password", ErrInvalidRequest)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: APIURL must be the web root, without query or fragment", ErrInvalidRequest)
	}
	if cfg.User == "" && cfg.Password != "" {
		return nil, fmt.Errorf("%w: a Password without a User", ErrInvalidRequest)
	}
	// Users give the REST root as often as the web root.
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v2") + "/"
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = timeout
	}
	hc.Jar = nil
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{root: u.String(), user: cfg.User, password: cfg.Password, http: &hc, timeout: timeout}, nil
}

// APIURL is the master's web root, ending in "/".
func (c *Client) APIURL() string { return c.root }

// call is one exchange with the master, retried once after a new login
// when the master says the session lacks the right. rpcMethod "" is a
// read (GET path?query); otherwise a JSON-RPC control call on path.
func (c *Client) call(ctx context.Context, path string, query url.Values, rpcMethod string, params any, out any) error {
	sess := c.currentSession()
	reply, err := c.exchange(ctx, path, query, rpcMethod, params, sess)
	if err != nil {
		return err
	}
	if reply.status == http.StatusForbidden && c.user != "" {
		if sess, err = c.relogin(ctx, sess); err != nil {
			return err
		}
		if reply, err = c.exchange(ctx, path, query, rpcMethod, params, sess); err != nil {
			return err
		}
	}
	return c.decode(reply, path, rpcMethod, out)
}

type reply struct {
	method string
	status int
	body   []byte
}

func (c *Client) exchange(ctx context.Context, path string, query url.Values, rpcMethod string, params any, sess string) (reply, error) {
	method := http.MethodGet
	var body io.Reader
	if rpcMethod != "" {
		method = http.MethodPost
		b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": rpcMethod, "id": c.rpcID.Add(1), "params": params})
		if err != nil {
			return reply{}, fmt.Errorf("%w: %s %s: %v", ErrInvalidRequest, rpcMethod, path, err)
		}
		body = bytes.NewReader(b)
	}
	target := c.root + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return reply{}, fmt.Errorf("%w: %s %s: %v", ErrInvalidRequest, method, path, transportCause(err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		// Buildbot answers 400 to a JSON-RPC body of any other type.
		req.Header.Set("Content-Type", "application/json")
	}
	if sess != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("buildbotrest: %s %s: %w", method, path, transportCause(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return reply{}, fmt.Errorf("buildbotrest: %s %s: reading the reply: %w", method, path, transportCause(err))
	}
	if len(b) > maxReply {
		return reply{}, fmt.Errorf("buildbotrest: %s %s: reply larger than %d bytes", method, path, maxReply)
	}
	return reply{method: method, status: resp.StatusCode, body: b}, nil
}

// decode turns a reply into out (a read's JSON, or a JSON-RPC result) or
// into an *HTTPError.
func (c *Client) decode(r reply, path, rpcMethod string, out any) error {
	var rpc struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if rpcMethod != "" {
		// A JSON-RPC error may come with any status, 200 included.
		_ = json.Unmarshal(r.body, &rpc)
	}
	if r.status/100 != 2 || len(rpc.Error) > 0 && string(rpc.Error) != "null" {
		return c.httpError(r, path, rpcMethod)
	}
	if out == nil {
		return nil
	}
	data := r.body
	if rpcMethod != "" {
		data = rpc.Result
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("buildbotrest: %s %s: unreadable reply: %v", r.method, path, err)
	}
	return nil
}

func (c *Client) httpError(r reply, path, rpcMethod string) *HTTPError {
	code, msg := errorMessage(r.body)
	return &HTTPError{
		Method:    r.method,
		Path:      path,
		RPCMethod: rpcMethod,
		Status:    r.status,
		RPCCode:   code,
		Body:      shorten(redact(msg, c.password, c.currentSession())),
	}
}

// errorMessage digs the message out of Buildbot's error bodies: JSON-RPC's
// {"error": {"code", "message"}} (the message may be an object naming the
// bad parameters), REST's {"error": "..."}, or a page of HTML or text.
func errorMessage(body []byte) (int, string) {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var rpc struct {
			Code    int             `json:"code"`
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(e.Error, &rpc) == nil && rpc.Code != 0 {
			var s string
			if json.Unmarshal(rpc.Message, &s) == nil {
				return rpc.Code, s
			}
			return rpc.Code, string(rpc.Message)
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return 0, s
		}
		return 0, string(e.Error)
	}
	return 0, string(body)
}
