package buildbotrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

var (
	// ErrNotFound is what a 404 answer unwraps to.
	ErrNotFound = errors.New("buildbotrest: not found")
	// ErrUnknownBuilder is what a force naming a builder that the master
	// lacks, or that the scheduler does not list, unwraps to (see
	// UnknownBuilderError).
	ErrUnknownBuilder = errors.New("buildbotrest: unknown builder")
	// ErrUnknownScheduler is what a force through a scheduler the master
	// does not have (or that is not a ForceScheduler) unwraps to.
	ErrUnknownScheduler = errors.New("buildbotrest: unknown force scheduler")
	// ErrInvalidRequest marks a call refused before it was sent.
	ErrInvalidRequest = errors.New("buildbotrest: invalid request")
)

// JSON-RPC error codes Buildbot answers with.
const (
	rpcInvalidRequest = -32600
	rpcInvalidParams  = -32602
	rpcInternalError  = -32603
)

// HTTPError is an answer other than success from the master.
type HTTPError struct {
	Method    string // GET or POST
	Path      string // below the web root, e.g. "api/v2/buildrequests/7"
	RPCMethod string // the JSON-RPC method of a control call, "" for reads
	Status    int
	RPCCode   int    // the JSON-RPC error code, 0 when there was none
	Body      string // the master's message, shortened, secrets removed
}

func (e *HTTPError) Error() string {
	call := e.Method + " " + e.Path
	if e.RPCMethod != "" {
		call += " (" + e.RPCMethod + ")"
	}
	msg := fmt.Sprintf("buildbotrest: %s: %d %s", call, e.Status, http.StatusText(e.Status))
	if e.RPCCode != 0 {
		msg += fmt.Sprintf(" [JSON-RPC %d]", e.RPCCode)
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap makes a 404 match ErrNotFound.
func (e *HTTPError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// LoginError is a refused login: the user or password is wrong, or the
// master's auth is not set up the way the client expects.
type LoginError struct {
	User string
	Err  *HTTPError
}

func (e *LoginError) Error() string {
	hint := ""
	if e.Err.Status == http.StatusUnauthorized {
		hint = " (wrong user or password)"
	}
	return fmt.Sprintf("buildbotrest: log in to Buildbot as %q%s: %v", e.User, hint, e.Err)
}

func (e *LoginError) Unwrap() error { return e.Err }

// UnknownBuilderError is a force the master refused because the builder
// is not one the scheduler can build on. Buildbot answers the same for a
// builder it does not have at all and for one the scheduler does not list.
type UnknownBuilderError struct {
	Scheduler, Builder string
	Err                *HTTPError
}

func (e *UnknownBuilderError) Error() string {
	return fmt.Sprintf("buildbotrest: force scheduler %q cannot build on builder %q: the master has no such builder or the scheduler does not list it (%v)",
		e.Scheduler, e.Builder, e.Err)
}

// Is makes the error match ErrUnknownBuilder.
func (e *UnknownBuilderError) Is(target error) bool { return target == ErrUnknownBuilder }

func (e *UnknownBuilderError) Unwrap() error { return e.Err }

// IsPermanent reports whether repeating the call cannot help: the master
// refused it (a 4xx other than 408 and 429, or a JSON-RPC "invalid params"),
// the force names a builder or scheduler the master does not have, or the
// call was malformed. A 5xx, a network failure or a timeout is worth
// retrying.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrUnknownBuilder) || errors.Is(err, ErrUnknownScheduler) || errors.Is(err, ErrInvalidRequest) {
		return true
	}
	var he *HTTPError
	if !errors.As(err, &he) {
		return false
	}
	switch {
	case he.RPCCode == rpcInvalidParams:
		return true
	case he.Status == http.StatusRequestTimeout, he.Status == http.StatusTooManyRequests:
		return false
	default:
		return he.Status >= 400 && he.Status < 500
	}
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

const maxMessage = 300

// shorten trims a message from the master to a readable length.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "..."
	}
	return s
}

// redact removes each secret from s. A master may echo what it was sent;
// an error message must not carry it on to logs.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
