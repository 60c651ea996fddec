package starter_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/signals"
)

const pushSecret = "push-secret-9x"

// recordedPush is a body a real Buildbot 3.7 master's bridge_reporter sent
// (recorded by internal/buildbotrest's tests).
func recordedPush(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "buildbotrest", "testdata", "push", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type pushRig struct {
	tc      *fakeTemporal
	handler http.Handler
}

func newPushRig(t *testing.T, opts starter.PushOptions) *pushRig {
	t.Helper()
	tc := newFakeTemporal()
	// A modern Buildbot needs no scheduler DB: pushes name their task.
	r, err := starter.New(tc, nil, starter.Options{TaskQueue: "buildbot-bridge", CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Password == "" {
		opts.Password = pushSecret
	}
	return &pushRig{tc: tc, handler: r.PushHandler(opts)}
}

func (r *pushRig) post(body []byte, user, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, starter.PushPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if password != "" {
		req.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

func TestPushSignalsTheTask(t *testing.T) {
	cases := []struct {
		body, taskID, signal string
		check                func(t *testing.T, arg any)
	}{
		{"build-started", "T-success", signals.BuildStartedName, func(t *testing.T, arg any) {
			s := arg.(signals.BuildStarted)
			if s.BuildRequestID != 1 || s.BuildNumber != 1 || s.TaskID != "T-success" || s.EventID == "" || s.BuilderName == "" {
				t.Errorf("build-started %+v", s)
			}
		}},
		{"build-finished-success", "T-success", signals.BuildFinishedName, func(t *testing.T, arg any) {
			s := arg.(signals.BuildFinished)
			if s.Results != signals.ResultSuccess || s.BuildRequestID != 1 || s.BuildID == 0 || s.Interrupted != "" {
				t.Errorf("build-finished %+v", s)
			}
			if v := s.Properties["taskId"]; v[0] != "T-success" {
				t.Errorf("properties carry taskId %v", v)
			}
			// The body's started_at 1796217351 and complete_at 1796217356,
			// for public/build-result.json.
			if !s.StartedAt.Equal(time.Unix(1796217351, 0)) || !s.FinishedAt.Equal(time.Unix(1796217356, 0)) {
				t.Errorf("build-finished times %s – %s, want the build's started_at and complete_at", s.StartedAt, s.FinishedAt)
			}
		}},
		{"build-finished-failure", "T-failure", signals.BuildFinishedName, func(t *testing.T, arg any) {
			if s := arg.(signals.BuildFinished); s.Results != signals.ResultFailure {
				t.Errorf("build-finished %+v", s)
			}
		}},
		{"build-finished-retry", "T-retry", signals.BuildFinishedName, func(t *testing.T, arg any) {
			if s := arg.(signals.BuildFinished); s.Results != signals.ResultRetry || s.Interrupted != "" {
				t.Errorf("build-finished %+v", s)
			}
		}},
		{"build-finished-cancelled", "T-stopped", signals.BuildFinishedName, func(t *testing.T, arg any) {
			// Stopped through the API: a cancel, not an interruption.
			if s := arg.(signals.BuildFinished); s.Results != signals.ResultCancelled || s.Interrupted != "" {
				t.Errorf("build-finished %+v", s)
			}
		}},
		{"request-cancelled", "T-pending", signals.BuildRequestCancelledName, func(t *testing.T, arg any) {
			if s := arg.(signals.BuildRequestCancelled); s.BuildRequestID == 0 || s.EventID != signals.CancelledEventID(s.BuildRequestID) {
				t.Errorf("buildrequest-cancelled %+v", s)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			rig := newPushRig(t, starter.PushOptions{})
			rig.tc.open[signals.TaskWorkflowID(c.taskID)] = true
			rec := rig.post(recordedPush(t, c.body), "buildbot", pushSecret)
			if rec.Code != http.StatusOK {
				t.Fatalf("answered %d %s, want 200", rec.Code, rec.Body)
			}
			calls := rig.tc.calls
			if len(calls) != 1 || calls[0].Signal != c.signal || calls[0].WorkflowID != signals.TaskWorkflowID(c.taskID) {
				t.Fatalf("signals %+v, want one %s to task-%s", calls, c.signal, c.taskID)
			}
			c.check(t, calls[0].Arg)
			// The master may send the same event twice; the event id is
			// what lets the workflow drop the repeat.
			rig.post(recordedPush(t, c.body), "buildbot", pushSecret)
			if again := rig.tc.calls; len(again) != 2 || eventID(again[1].Arg) != eventID(calls[0].Arg) {
				t.Errorf("a repeated push gave event ids %q and %q", eventID(calls[0].Arg), eventID(again[len(again)-1].Arg))
			}
		})
	}
}

func eventID(arg any) string {
	switch s := arg.(type) {
	case signals.BuildStarted:
		return s.EventID
	case signals.BuildFinished:
		return s.EventID
	case signals.BuildRequestCancelled:
		return s.EventID
	}
	return ""
}

func TestPushRefusals(t *testing.T) {
	body := recordedPush(t, "build-finished-success")
	cases := []struct {
		name           string
		method         string
		body           []byte
		user, password string
		want           int
	}{
		{"no credentials", http.MethodPost, body, "", "", http.StatusUnauthorized},
		{"wrong password", http.MethodPost, body, "buildbot", "guess", http.StatusUnauthorized},
		{"not JSON", http.MethodPost, []byte("<html>"), "buildbot", pushSecret, http.StatusBadRequest},
		{"not a Buildbot event", http.MethodPost, []byte(`{"hello": "world"}`), "buildbot", pushSecret, http.StatusBadRequest},
		{"too large", http.MethodPost, bytes.Repeat([]byte(" "), 2<<10), "buildbot", pushSecret, http.StatusRequestEntityTooLarge},
		{"GET", http.MethodGet, nil, "buildbot", pushSecret, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rig := newPushRig(t, starter.PushOptions{MaxBytes: 1 << 10 * 64})
			if c.name == "too large" {
				rig = newPushRig(t, starter.PushOptions{MaxBytes: 1 << 10})
			}
			rig.tc.open[signals.TaskWorkflowID("T-success")] = true
			req := httptest.NewRequest(c.method, starter.PushPath, bytes.NewReader(c.body))
			if c.password != "" {
				req.SetBasicAuth(c.user, c.password)
			}
			rec := httptest.NewRecorder()
			rig.handler.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body, c.want)
			}
			if len(rig.tc.calls) != 0 {
				t.Errorf("signalled %+v", rig.tc.calls)
			}
			if strings.Contains(rec.Body.String(), pushSecret) {
				t.Error("the answer shows the password")
			}
		})
	}
}

// Pushes about tasks the bridge does not carry are acknowledged: the
// master would not resend them anyway, and they are not errors.
func TestPushNothingToSignal(t *testing.T) {
	t.Run("no open workflow", func(t *testing.T) {
		rig := newPushRig(t, starter.PushOptions{})
		if rec := rig.post(recordedPush(t, "build-started"), "buildbot", pushSecret); rec.Code != http.StatusOK {
			t.Errorf("answered %d, want 200", rec.Code)
		}
	})
	t.Run("no taskId", func(t *testing.T) {
		rig := newPushRig(t, starter.PushOptions{})
		body := bytes.ReplaceAll(recordedPush(t, "build-started"), []byte(`"taskId"`), []byte(`"otherId"`))
		if rec := rig.post(body, "buildbot", pushSecret); rec.Code != http.StatusOK {
			t.Errorf("answered %d, want 200", rec.Code)
		}
		if len(rig.tc.calls) != 0 {
			t.Errorf("signalled %+v", rig.tc.calls)
		}
	})
	t.Run("request event without taskId reads it from Buildbot", func(t *testing.T) {
		asked := int64(0)
		rig := newPushRig(t, starter.PushOptions{TaskOf: func(_ context.Context, brid int64) (string, error) {
			asked = brid
			return "T-pending", nil
		}})
		rig.tc.open[signals.TaskWorkflowID("T-pending")] = true
		body := bytes.ReplaceAll(recordedPush(t, "request-cancelled"), []byte(`"taskId"`), []byte(`"otherId"`))
		if rec := rig.post(body, "buildbot", pushSecret); rec.Code != http.StatusOK {
			t.Errorf("answered %d, want 200", rec.Code)
		}
		if asked == 0 || len(rig.tc.calls) != 1 {
			t.Errorf("asked for request %d, signalled %+v", asked, rig.tc.calls)
		}
	})
}

// A signal Temporal did not take is not acknowledged.
func TestPushTemporalDown(t *testing.T) {
	rig := newPushRig(t, starter.PushOptions{})
	rig.tc.fail = serviceerror.NewUnavailable("frontend down")
	if rec := rig.post(recordedPush(t, "build-finished-success"), "buildbot", pushSecret); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("answered %d, want 503", rec.Code)
	}
	rig.tc.fail = errors.New("deadline exceeded")
	if rec := rig.post(recordedPush(t, "build-started"), "buildbot", pushSecret); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("answered %d, want 503", rec.Code)
	}
}

// A master shutting down cancels its running builds: that finish says the
// task was interrupted, not cancelled by anyone.
func TestPushMasterShutdownIsAnInterruption(t *testing.T) {
	rig := newPushRig(t, starter.PushOptions{})
	rig.tc.open[signals.TaskWorkflowID("T-stopped")] = true
	body := recordedPush(t, "build-finished-cancelled")
	body = bytes.Replace(body, []byte(`"cancelled (test: stop running)`), []byte(`"cancelled (Master Shutdown)`), 1)
	if rec := rig.post(body, "buildbot", pushSecret); rec.Code != http.StatusOK {
		t.Fatalf("answered %d", rec.Code)
	}
	if len(rig.tc.calls) != 1 {
		t.Fatalf("signals %+v", rig.tc.calls)
	}
	if s := rig.tc.calls[0].Arg.(signals.BuildFinished); s.Results != signals.ResultCancelled || !strings.Contains(s.Interrupted, "shut down") {
		t.Errorf("build-finished %+v, want CANCELLED marked as interrupted by the shutdown", s)
	}
}
