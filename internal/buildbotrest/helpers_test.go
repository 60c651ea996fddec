package buildbotrest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

const waitTimeout = 60 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test with cond's last
// description of what it saw when waitTimeout passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last saw %s", what, waitTimeout, saw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// prop makes a property from any Go value.
func prop(name string, v any) Property {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return Property{Name: name, Value: b}
}

func force(t testing.TB, c *Client, builder string, props ...Property) int64 {
	t.Helper()
	_, brid, err := c.Force(ctxT(t), ForceRequest{
		Scheduler: "taskcluster", Builder: builder, Reason: "buildbotrest test",
		Username: "taskcluster-bridge <bridge@localhost>", Properties: props,
	})
	if err != nil {
		t.Fatalf("force on %s: %v", builder, err)
	}
	return brid
}

func waitComplete(t testing.TB, c *Client, brid int64) BuildRequest {
	t.Helper()
	var br BuildRequest
	eventually(t, fmt.Sprintf("request %d complete", brid), func() (bool, string) {
		var err error
		br, err = c.BuildRequest(ctxT(t), brid)
		return err == nil && br.Complete, fmt.Sprintf("%+v %v", br, err)
	})
	return br
}

// waitRunning waits until the request's newest build is running the named
// step, and returns that build.
func waitRunning(t testing.TB, c *Client, brid int64, step string) Build {
	t.Helper()
	var b Build
	eventually(t, fmt.Sprintf("request %d running step %s", brid, step), func() (bool, string) {
		builds, err := c.Builds(ctxT(t), brid)
		if err != nil || len(builds) == 0 || builds[len(builds)-1].Complete {
			return false, fmt.Sprintf("builds %+v, %v", builds, err)
		}
		b = builds[len(builds)-1]
		var steps struct {
			Steps []struct {
				Name      string `json:"name"`
				StartedAt *int64 `json:"started_at"`
			} `json:"steps"`
		}
		if err := c.call(ctxT(t), "api/v2/builds/"+strconv.FormatInt(b.ID, 10)+"/steps", nil, "", nil, &steps); err != nil {
			return false, err.Error()
		}
		for _, s := range steps.Steps {
			if s.Name == step && s.StartedAt != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("steps %+v", steps.Steps)
	})
	return b
}

// pushSink is the bridge's end of bridge_reporter: it keeps every body
// the master pushes with the right credentials.
type pushSink struct {
	srv          *httptest.Server
	user, secret string

	mu      sync.Mutex
	bodies  [][]byte
	refused int
}

func newPushSink(t testing.TB, user, secret string) *pushSink {
	s := &pushSink{user: user, secret: secret}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !ok || u != s.user || p != s.secret || r.Method != http.MethodPost {
			s.refused++
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		s.bodies = append(s.bodies, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *pushSink) url() string { return s.srv.URL + "/buildbot/events" }

// await waits for a push that decodes and satisfies match, and returns it
// with its raw body.
func (s *pushSink) await(t testing.TB, what string, match func(Push) bool) (Push, []byte) {
	t.Helper()
	var found Push
	var raw []byte
	eventually(t, "push: "+what, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.bodies {
			p, err := DecodePush(b)
			if err != nil {
				t.Fatalf("DecodePush of a real push: %v\n%s", err, b)
			}
			if match(p) {
				found, raw = p, b
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pushes, %d refused", len(s.bodies), s.refused)
	})
	return found, raw
}
