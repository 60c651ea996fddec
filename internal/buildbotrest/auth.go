package buildbotrest

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

const loginPath = "auth/login"

func (c *Client) currentSession() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

func (c *Client) setSession(s string) {
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
}

// relogin replaces the session stale, which the master has just refused.
// Callers that were refused together share one login: whoever comes second
// finds a session other than the one it was refused with and uses it.
//
// Logging in only after a refusal, never up front, keeps a client given a
// User working against a master without auth, whose /auth/login fails.
func (c *Client) relogin(ctx context.Context, stale string) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if s := c.currentSession(); s != "" && s != stale {
		return s, nil
	}
	s, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	c.setSession(s)
	c.logins.Add(1)
	return s, nil
}

// login gets a session with HTTP Basic. Buildbot answers a good login with
// a redirect carrying two session cookies: the anonymous session it made
// on arrival, then the logged-in one. The last one is kept.
func (c *Client) login(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.root+loginPath, nil)
	if err != nil {
		return "", fmt.Errorf("%w: GET %s: %v", ErrInvalidRequest, loginPath, transportCause(err))
	}
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("buildbotrest: log in to Buildbot as %q: GET %s: %w", c.user, loginPath, transportCause(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 400 {
		r := reply{method: http.MethodGet, status: resp.StatusCode, body: body}
		return "", &LoginError{User: c.user, Err: c.httpError(r, loginPath, "")}
	}
	var sess string
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sess = ck.Value
		}
	}
	if sess == "" {
		return "", &LoginError{User: c.user, Err: &HTTPError{
			Method: http.MethodGet, Path: loginPath, Status: resp.StatusCode,
			Body: "the answer set no " + sessionCookie + " cookie",
		}}
	}
	return sess, nil
}
