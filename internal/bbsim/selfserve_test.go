package bbsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ssResponse is a self-serve answer as a client sees it.
type ssResponse struct {
	status   int
	location string
	body     map[string]any
}

// callSelfServe sends method to base+path; user "" leaves X-Remote-User
// out; json asks for JSON with the Accept header.
func callSelfServe(t *testing.T, method, url, user string, asJSON bool) ssResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-Remote-User", user)
	}
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := ssResponse{status: resp.StatusCode, location: resp.Header.Get("Location")}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, url, raw)
		}
	}
	return r
}

func wantFailed(t *testing.T, what string, r ssResponse, status int) {
	t.Helper()
	msg, _ := r.body["msg"].(string)
	if r.status != status || r.body["status"] != "FAILED" || msg == "" {
		t.Errorf("%s: %d %v, want %d {\"msg\": ..., \"status\": \"FAILED\"}", what, r.status, r.body, status)
	}
}

func wantJob(t *testing.T, what string, r ssResponse) int64 {
	t.Helper()
	id, ok := r.body["request_id"].(float64)
	if r.status != http.StatusAccepted || r.body["status"] != "OK" || !ok || id <= 0 {
		t.Fatalf("%s: %d %v, want 202 {\"status\": \"OK\", \"request_id\": <job>}", what, r.status, r.body)
	}
	return int64(id)
}

// waitJob waits until the agent has carried out job id.
func waitJob(t *testing.T, base string, id int64) map[string]any {
	t.Helper()
	var job map[string]any
	waitFor(t, 10*time.Second, fmt.Sprintf("job %d done", id), func() bool {
		r := callSelfServe(t, http.MethodGet, fmt.Sprintf("%s/jobs/%d", base, id), "buildbot-bridge", true)
		job = r.body
		return r.status == http.StatusOK && job["completed_at"] != nil
	})
	return job
}

func TestSelfServeErrors(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		// Nothing serves this builder, so the request stays pending.
		sim := fx.startSim(t, Options{Builders: []string{"unrelated"}})
		brid := fx.inject(t, "Ss1oZx5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "projects/alder")
		base := sim.SelfServeURL()
		if !strings.HasPrefix(base, "http://") || strings.HasSuffix(base, "/") {
			t.Fatalf("SelfServeURL() = %q", base)
		}
		reqURL := fmt.Sprintf("%s/alder/request/%d", base, brid)

		if r := callSelfServe(t, http.MethodDelete, reqURL, "", true); r.status != http.StatusForbidden {
			t.Errorf("no X-Remote-User: %d, want 403", r.status)
		}
		wantFailed(t, "request on another branch",
			callSelfServe(t, http.MethodDelete, fmt.Sprintf("%s/mozilla-central/request/%d", base, brid), "buildbot-bridge", true), 404)
		wantFailed(t, "unknown request", callSelfServe(t, http.MethodDelete, base+"/alder/request/987654", "buildbot-bridge", true), 404)
		wantFailed(t, "unknown build", callSelfServe(t, http.MethodDelete, base+"/alder/build/987654", "buildbot-bridge", true), 404)
		wantFailed(t, "unknown job", callSelfServe(t, http.MethodGet, base+"/jobs/424242", "buildbot-bridge", true), 404)
		if r := callSelfServe(t, http.MethodDelete, base+"/alder/request/abc", "buildbot-bridge", true); r.status != http.StatusBadRequest {
			t.Errorf("non-numeric request id: %d, want 400", r.status)
		}
		if r := callSelfServe(t, http.MethodDelete, base+"/alder/build/12x", "buildbot-bridge", true); r.status != http.StatusBadRequest {
			t.Errorf("non-numeric build id: %d, want 400", r.status)
		}
		sim.SetSelfServeDown(true)
		if r := callSelfServe(t, http.MethodDelete, reqURL, "buildbot-bridge", true); r.status != http.StatusServiceUnavailable {
			t.Errorf("while down: %d, want 503", r.status)
		}
		sim.SetSelfServeDown(false)

		// None of that may have touched the request.
		time.Sleep(3 * DefaultAgentDelay)
		if r := fx.request(t, brid); r.complete != 0 || r.claimedAt != 0 {
			t.Errorf("request after refused calls: %+v, want untouched", r)
		}
		calls := sim.SelfServeCalls()
		if len(calls) != 8 || calls[0].Status != 403 || calls[0].RemoteUser != "" ||
			calls[1].Status != 404 || calls[1].RemoteUser != "buildbot-bridge" || calls[1].Method != http.MethodDelete ||
			calls[4].Method != http.MethodGet || calls[7].Status != 503 || calls[1].Path != fmt.Sprintf("/buildapi/self-serve/mozilla-central/request/%d", brid) {
			t.Errorf("SelfServeCalls() = %+v", calls)
		}
	})
}

func TestSelfServeCancelsPendingRequest(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		sim := fx.startSim(t, Options{Builders: []string{"unrelated"}, AgentDelay: time.Second})
		brid := fx.inject(t, "Ss2oZx5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "projects/alder")
		other := fx.inject(t, "Ss3oZx5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "projects/alder")
		base := sim.SelfServeURL()

		job := wantJob(t, "cancel pending request", callSelfServe(t, http.MethodDelete,
			fmt.Sprintf("%s/alder/request/%d", base, brid), "buildbot-bridge", true))
		if r := fx.request(t, brid); r.complete != 0 {
			t.Errorf("the cancel was carried out before the agent's delay: %+v", r)
		}
		waitJob(t, base, job)
		r := fx.request(t, brid)
		if r.complete != 1 || !r.results.Valid || r.results.Int64 != FAILURE || r.claimedAt != 0 || !r.completeAt.Valid {
			t.Errorf("cancelled request = %+v, want complete=1 results=2 claimed_at=0 complete_at set", r)
		}

		// Without JSON asked for, the answer is a redirect to the job page;
		// ?format=json asks for JSON too.
		redirect := callSelfServe(t, http.MethodDelete, fmt.Sprintf("%s/alder/request/%d", base, other), "someone@mozilla.com", false)
		if redirect.status != http.StatusSeeOther || !strings.Contains(redirect.location, "/jobs/") {
			t.Errorf("HTML cancel: %d Location %q, want 303 to /jobs/<id>", redirect.status, redirect.location)
		}
		wantJob(t, "?format=json", callSelfServe(t, http.MethodDelete,
			fmt.Sprintf("%s/alder/request/%d?format=json", base, other), "buildbot-bridge", false))
		waitFor(t, 10*time.Second, "second request cancelled", func() bool { return fx.request(t, other).complete == 1 })
	})
}

func TestSelfServeCancelsRunningBuild(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "build.*.*.started", "build.*.*.finished", "build.*.*.log_uploaded")
		sim := fx.startSim(t, Options{Script: Fixed(Attempt{Duration: Forever})})
		brid := fx.inject(t, "Ss4oZx5mRbG7pQ0cXfYw1A", "WINNT 6.1 mozilla-central pgo test", "mozilla-central")
		base := sim.SelfServeURL()
		started := c.next(t, 20*time.Second)
		rows := fx.buildsOf(t, brid)
		if len(rows) != 1 {
			t.Fatalf("builds rows %+v", rows)
		}

		// The agent only cancels pending requests: this one is running.
		job := wantJob(t, "cancel running request", callSelfServe(t, http.MethodDelete,
			fmt.Sprintf("%s/mozilla-central/request/%d", base, brid), "buildbot-bridge", true))
		waitJob(t, base, job)
		if r := fx.request(t, brid); r.complete != 0 || r.claimedAt == 0 {
			t.Errorf("running request after a request cancel: %+v, want still claimed and incomplete", r)
		}

		job = wantJob(t, "cancel build", callSelfServe(t, http.MethodDelete,
			fmt.Sprintf("%s/mozilla-central/build/%d", base, rows[0].id), "buildbot-bridge", true))
		fin := c.next(t, 20*time.Second)
		lu := c.next(t, 20*time.Second)
		n := started.Body.Payload.Build.Number
		if fin.Key != keyOf("WINNT_6_1_mozilla-central_pgo_test", n, "finished") || lu.Key != keyOf("WINNT_6_1_mozilla-central_pgo_test", n, "log_uploaded") {
			t.Fatalf("after the cancel: %s, %s", fin.Key, lu.Key)
		}
		if r := fin.Body.Payload.Results; r == nil || *r != CANCELLED {
			t.Errorf("finished results = %v, want 6", r)
		}
		if r := lu.Body.Payload.Build.Results; r == nil || *r != CANCELLED {
			t.Errorf("log_uploaded results = %v, want 6", r)
		}
		checkProp(t, lu.Body, "request_ids", []any{float64(brid)}, "postrun.py")
		r := fx.request(t, brid)
		if r.complete != 1 || r.results.Int64 != CANCELLED {
			t.Errorf("request after the build cancel: %+v, want complete=1 results=6", r)
		}
		waitJob(t, base, job)

		// Cancelling it again, now finished, changes nothing.
		job = wantJob(t, "cancel finished build", callSelfServe(t, http.MethodDelete,
			fmt.Sprintf("%s/mozilla-central/build/%d", base, rows[0].id), "buildbot-bridge", true))
		waitJob(t, base, job)
		c.quiet(t, 500*time.Millisecond)
		if recs := sim.Builds(); len(recs) != 1 || recs[0].Result != CANCELLED {
			t.Errorf("Builds() = %+v", recs)
		}
	})
}
