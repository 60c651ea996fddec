package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"go.temporal.io/sdk/temporal"
)

// tcError turns an error of a tcqueue call into what the workflow can act
// on: the answers that will not change on a retry (400, 403, 404, 409)
// become non-retryable ApplicationErrors of the contract's types; anything
// else (401, 429, 5xx after the client's own short backoff, network
// errors) stays a plain error for the activity retry policy.
//
// The client's own error text is never used: it carries the full response
// body (a claim's temporary credentials) and, in debug mode, the request
// headers. The message is rebuilt from the status and the queue's error
// message instead. There is no cause, for the same reason.
func tcError(call string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *tcclient.APICallException
	if !errors.As(err, &apiErr) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("taskcluster %s: %w", call, err)
		}
		return fmt.Errorf("taskcluster %s: %s", call, scrubTransport(err))
	}
	status := 0
	if cs := apiErr.CallSummary; cs != nil && cs.HTTPResponse != nil {
		status = cs.HTTPResponse.StatusCode
	}
	if status < 400 {
		// No answer at all, or a success that did not parse.
		return fmt.Errorf("taskcluster %s: no usable answer: %s", call, rootCauseKind(apiErr.RootCause))
	}
	msg := fmt.Sprintf("taskcluster %s: %d %s", call, status, queueErrorMessage(apiErr))
	var errType string
	switch status {
	case http.StatusBadRequest:
		errType = ErrTCBadRequest
	case http.StatusForbidden:
		errType = ErrTCForbidden
	case http.StatusNotFound:
		errType = ErrTCNotFound
	case http.StatusConflict:
		errType = ErrTCConflict
	default:
		return errors.New(msg)
	}
	return temporal.NewNonRetryableApplicationError(msg, errType, nil)
}

// queueErrorMessage is "<code>: <first paragraph of message>" from the
// queue's error body {"code", "message", "requestInfo"}; the rest of the
// message (a dump of the call) and requestInfo are left out.
func queueErrorMessage(e *tcclient.APICallException) string {
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if e.CallSummary != nil && json.Unmarshal([]byte(e.CallSummary.HTTPResponseBody), &body) == nil && body.Code != "" {
		first, _, _ := strings.Cut(body.Message, "\n\n")
		return body.Code + ": " + truncate(strings.TrimSpace(first), 300)
	}
	return http.StatusText(e.CallSummary.HTTPResponse.StatusCode)
}

// rootCauseKind names the kind of failure without its text, which may hold
// the response body.
func rootCauseKind(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "unknown error"
	case errors.As(err, &syntax), errors.As(err, &typeErr):
		return "response is not the expected JSON"
	default:
		return scrubTransport(err)
	}
}

// scrubTransport keeps a transport error's text, which names the host and
// the failure (connection refused, timeout) but never a secret: requests
// are signed in a header, not in the URL.
func scrubTransport(err error) string {
	return truncate(err.Error(), 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
