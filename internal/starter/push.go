package starter

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/metrics"
	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// pushDelivered is handlePush's note that a signal went out.
const pushDelivered = "delivered"

// PushPath is where a modern Buildbot master's reporter (contrib/buildbot's
// bridge_reporter) posts its events.
const PushPath = "/buildbot/events"

// DefaultMaxPushBytes bounds one push. A build's properties are in it, and
// a build may carry big ones; beyond this the push is refused (413) and
// the task is resolved from Buildbot's REST API instead.
const DefaultMaxPushBytes = 8 << 20

// PushOptions configures the push receiver.
type PushOptions struct {
	// Password is buildbot.events_password, which the reporter sends with
	// HTTP Basic auth (the user name is not checked: the reporter's
	// default differs between masters, the password is the secret).
	Password string
	// MaxBytes defaults to DefaultMaxPushBytes.
	MaxBytes int64
	// TaskOf reads the taskId of a request when a push does not carry it
	// (a request event); nil leaves such events unmatched.
	TaskOf func(ctx context.Context, brid int64) (string, error)
}

// PushHandler turns a modern Buildbot master's pushes into the signals the
// Pulse events of Buildbot 0.8 give: build-started, build-finished and
// buildrequest-cancelled. It answers 2xx only once Temporal accepted the
// signal, or once it is clear there is nothing to signal. Pushes are hints:
// the master never resends one, and every task also reads Buildbot's REST
// API, so an answer other than 2xx loses nothing but time.
func (r *Router) PushHandler(opts PushOptions) http.Handler {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxPushBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST a Buildbot event here", http.StatusMethodNotAllowed)
			return
		}
		_, password, ok := req.BasicAuth()
		if !ok || opts.Password == "" || subtle.ConstantTimeCompare([]byte(password), []byte(opts.Password)) != 1 {
			metrics.Pushes.WithLabelValues("unknown", "unauthorized").Inc()
			r.log.Warn("starter: push refused: wrong or missing credentials", "remote", req.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="buildbot-bridge"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, opts.MaxBytes))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			metrics.Pushes.WithLabelValues("unknown", "too_large").Inc()
			r.log.Warn("starter: push refused: too large; the task will be resolved from Buildbot's REST API",
				"remote", req.RemoteAddr, "limit_bytes", opts.MaxBytes)
			http.Error(w, fmt.Sprintf("body over %d bytes", opts.MaxBytes), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			metrics.Pushes.WithLabelValues("unknown", "bad_request").Inc()
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		push, err := buildbotrest.DecodePush(body)
		if err != nil {
			metrics.Pushes.WithLabelValues("unknown", "bad_request").Inc()
			r.log.Warn("starter: push ignored: not a Buildbot event the bridge can read", "remote", req.RemoteAddr,
				"bytes", len(body), "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, msg := r.handlePush(req.Context(), push, opts)
		metrics.Pushes.WithLabelValues(pushEvent(push.Kind), pushOutcome(status, msg)).Inc()
		if status >= 300 {
			http.Error(w, msg, status)
			return
		}
		w.WriteHeader(status)
	})
}

// handlePush signals the task a push is about and returns the HTTP answer.
func (r *Router) handlePush(ctx context.Context, p buildbotrest.Push, opts PushOptions) (int, string) {
	log := r.log.With("push", p.Kind, "builder", p.BuilderName, "build_number", p.BuildNumber,
		"brid", p.BuildRequestID, "build_id", p.BuildID)
	taskID := p.TaskID
	if taskID == "" && p.Kind == buildbotrest.PushRequestCancelled && opts.TaskOf != nil && p.BuildRequestID != 0 {
		tctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
		id, err := opts.TaskOf(tctx, p.BuildRequestID)
		cancel()
		if err != nil {
			log.Warn("starter: push not delivered: cannot read the request's taskId from Buildbot", "err", err)
			return http.StatusServiceUnavailable, "cannot read the request's taskId from Buildbot"
		}
		taskID = id
	}
	var name string
	var sig any
	master := masterName(p)
	switch p.Kind {
	case buildbotrest.PushBuildStarted:
		name = signals.BuildStartedName
		sig = signals.BuildStarted{
			EventID:        signals.StartedEventID(p.BuildRequestID, master, int(p.BuildNumber)),
			TaskID:         taskID,
			BuildRequestID: p.BuildRequestID,
			BuilderName:    p.BuilderName,
			Master:         master,
			BuildNumber:    int(p.BuildNumber),
		}
	case buildbotrest.PushBuildFinished:
		if omitted := pulsemsg.LimitProperties(p.Properties); len(omitted) > 0 {
			log.Warn("starter: build properties too large for a signal; these values are replaced by a note",
				"properties", omitted, "limit_bytes", pulsemsg.MaxPropertiesBytes)
		}
		name = signals.BuildFinishedName
		sig = signals.BuildFinished{
			EventID:        signals.FinishedEventID(p.BuildRequestID, master, int(p.BuildNumber)),
			TaskID:         taskID,
			BuildRequestID: p.BuildRequestID,
			BuilderName:    p.BuilderName,
			Master:         master,
			BuildNumber:    int(p.BuildNumber),
			Results:        p.Results,
			Properties:     p.Properties,
			BuildID:        p.BuildID,
			Interrupted:    buildbotrest.Interruption(p.Results, p.StateString, 1),
			StartedAt:      unixTime(p.StartedAt),
			FinishedAt:     unixTime(p.CompleteAt),
		}
	case buildbotrest.PushRequestCancelled:
		name = signals.BuildRequestCancelledName
		sig = signals.BuildRequestCancelled{
			EventID:        signals.CancelledEventID(p.BuildRequestID),
			BuildRequestID: p.BuildRequestID,
		}
	default:
		log.Debug("starter: push ignored: not an event the bridge acts on")
		return http.StatusOK, ""
	}
	if taskID == "" {
		log.Info("starter: push ignored: the build has no taskId property, the bridge did not ask for it")
		return http.StatusOK, ""
	}
	log = log.With("task_id", taskID)
	err := r.signal(ctx, taskID, name, sig)
	switch {
	case err == nil:
		log.Info("starter: " + name + " delivered")
		return http.StatusOK, pushDelivered
	case isNotFound(err):
		log.Info("starter: " + name + " ignored: no open workflow carries the task (unknown to this bridge, or over)")
		return http.StatusOK, ""
	default:
		log.Warn("starter: "+name+" not delivered; the task's own reads of Buildbot will find what it said", "err", err)
		return http.StatusServiceUnavailable, "Temporal did not take the signal"
	}
}

// unixTime is a push's Unix seconds as a time, zero when the push had none.
func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// masterName names the master in event ids and in the workflow's history:
// the host of the build's URL, else the master's id.
func masterName(p buildbotrest.Push) string {
	if u, err := url.Parse(p.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return fmt.Sprintf("master-%d", p.MasterID)
}

// pushEvent is a push's kind as a metric label.
func pushEvent(k buildbotrest.PushKind) string {
	switch k {
	case buildbotrest.PushBuildStarted:
		return "build_started"
	case buildbotrest.PushBuildFinished:
		return "build_finished"
	case buildbotrest.PushRequestCancelled:
		return "request_cancelled"
	}
	return "other"
}

// pushOutcome tells a signal delivered from a push acknowledged with
// nothing to do (msg is then empty and handlePush says why in its log).
func pushOutcome(status int, delivered string) string {
	switch {
	case status >= 300:
		return "not_delivered"
	case delivered == pushDelivered:
		return "delivered"
	}
	return "ignored"
}
