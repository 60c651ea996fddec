package buildbotrest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestNewValidatesTheURL(t *testing.T) {
	for _, bad := range []string{"", "buildbot.example", "ftp://buildbot.example/", "http://user:hunter2@buildbot.example/", "http://buildbot.example/?x=1", "http://%zz"} {
		_, err := New(Config{APIURL: bad})
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("New(%q) = %v, want ErrInvalidRequest", bad, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%q): error %q repeats the password", bad, err)
		}
	}
	for in, want := range map[string]string{
		"http://bb.example":             "http://bb.example/",
		"http://bb.example/":            "http://bb.example/",
		"https://bb.example/ci/":        "https://bb.example/ci/",
		"https://bb.example/ci/api/v2/": "https://bb.example/ci/",
		"https://bb.example/api/v2":     "https://bb.example/",
	} {
		c, err := New(Config{APIURL: in})
		if err != nil || c.APIURL() != want {
			t.Errorf("New(%q).APIURL() = %v, %v; want %q", in, c, err, want)
		}
	}
	if _, err := New(Config{APIURL: "http://bb.example/", Password: "x"}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("a password without a user: %v", err)
	}
}

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&HTTPError{Status: 400}, true},
		{&HTTPError{Status: 403}, true},
		{&HTTPError{Status: 404}, true},
		{&HTTPError{Status: 408}, false},
		{&HTTPError{Status: 429}, false},
		{&HTTPError{Status: 500}, false},
		{&HTTPError{Status: 502}, false},
		{&HTTPError{Status: 500, RPCCode: rpcInvalidParams}, true},
		{&HTTPError{Status: 500, RPCCode: rpcInternalError}, false},
		{fmt.Errorf("wrapped: %w", &HTTPError{Status: 409}), true},
		{&UnknownBuilderError{Builder: "b", Err: &HTTPError{Status: 500}}, true},
		{fmt.Errorf("%w %q: %w", ErrUnknownScheduler, "s", &HTTPError{Status: 500}), true},
		{&LoginError{User: "u", Err: &HTTPError{Status: 401}}, true},
		{&LoginError{User: "u", Err: &HTTPError{Status: 500}}, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection refused"), false},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// Whatever the master echoes, an error carries neither the password nor
// the session.
func TestErrorsCarryNoSecrets(t *testing.T) {
	c, err := New(Config{APIURL: "http://bb.example/", User: "bridge", Password: "hunter2-pw"})
	if err != nil {
		t.Fatal(err)
	}
	c.setSession("eyJsession.cookie.value")
	body := `{"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": {"x": "bad hunter2-pw in TWISTED_SESSION=eyJsession.cookie.value"}}}`
	he := c.httpError(reply{method: http.MethodPost, status: 400, body: []byte(body)}, "api/v2/forceschedulers/s", "force")
	msg := he.Error()
	if strings.Contains(msg, "hunter2-pw") || strings.Contains(msg, "eyJsession.cookie.value") {
		t.Fatalf("error leaks a secret: %s", msg)
	}
	if he.RPCCode != rpcInvalidParams || !strings.Contains(msg, "[redacted]") || !strings.Contains(msg, "(force)") {
		t.Fatalf("error = %s", msg)
	}
	long := c.httpError(reply{method: http.MethodGet, status: 500, body: []byte(strings.Repeat("x", 5000))}, "api/v2/builders", "")
	if len(long.Body) > maxMessage+10 {
		t.Fatalf("body of %d characters kept", len(long.Body))
	}
}

func TestErrorMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "KeyError('x')"}}`: "-32603 KeyError('x')",
		`{"jsonrpc": "2.0", "error": {"code": -32602, "message": {"username": "bad"}}}`:      `-32602 {"username": "bad"}`,
		`{"error": "not found while getting from endpoint"}`:                                 "0 not found while getting from endpoint",
		`<html>Processing Failed</html>`:                                                     "0 <html>Processing Failed</html>",
	} {
		code, msg := errorMessage([]byte(body))
		if got := fmt.Sprintf("%d %s", code, msg); got != want {
			t.Errorf("errorMessage(%s) = %q, want %q", body, got, want)
		}
	}
}
