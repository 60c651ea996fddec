package selfserve_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/selfserve"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

const runningBuilder = "linux64-build"

// world is a scheduler DB on the real MariaDB with a simulated master that
// builds only runningBuilder (forever, until cancelled), and BuildAPI's
// self-serve in front of it.
type world struct {
	db  *schedulerdb.DB
	sim *bbsim.Sim
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := schedulerdb.Open(ctx, testenv.MariaDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBridgeTable(ctx); err != nil {
		t.Fatal(err)
	}
	pub, err := pulse.DialPublisher(ctx, testenv.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	sim, err := bbsim.New(bbsim.Options{
		DB: db.SQL(), Driver: db.Driver(), Publisher: pub,
		Builders:     []string{runningBuilder},
		PollInterval: 100 * time.Millisecond,
		AgentDelay:   -1,
		Script:       bbsim.Fixed(bbsim.Attempt{Result: bbsim.SUCCESS, Duration: bbsim.Forever}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &world{db: db, sim: sim}
}

func (w *world) inject(t *testing.T, taskID, builder string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := w.db.InjectBuildRequest(ctx, schedulerdb.Injection{
		TaskID: taskID, BuilderName: builder,
		Sourcestamp: schedulerdb.Sourcestamp{Branch: "releases/mozilla-beta", Revision: "abcdef123456"},
		Properties:  []schedulerdb.Property{{Name: "product", Value: "firefox"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.BuildRequestID
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCancelRequestOfPendingRequest(t *testing.T) {
	w := newWorld(t)
	brid := w.inject(t, "fUAsM1Y8TkG7RzVpcC9wBA", "win32-never-built")
	c := selfserve.New(w.sim.SelfServeURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CancelRequest(ctx, "mozilla-beta", brid); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	calls := w.sim.SelfServeCalls()
	if len(calls) != 1 {
		t.Fatalf("self-serve saw %d calls, want 1", len(calls))
	}
	got := calls[0]
	wantPath := "/buildapi/self-serve/mozilla-beta/request/" + itoa(brid)
	if got.Method != http.MethodDelete || got.Path != wantPath || got.RemoteUser != "buildbot-bridge" || got.Status != http.StatusAccepted {
		t.Errorf("self-serve call = %+v, want DELETE %s as buildbot-bridge answered 202", got, wantPath)
	}
	// The agent marks the pending request complete, never claimed: how the
	// bridge's sweep recognises a cancel.
	eventually(t, "the request to be cancelled", func() bool {
		br, err := w.db.BuildRequest(ctx, brid)
		return err == nil && br.Complete && br.ClaimedAt == 0 && br.Results != nil && *br.Results == schedulerdb.ResultFailure
	})
}

func TestCancelRequestUnknownIsNotFound(t *testing.T) {
	w := newWorld(t)
	c := selfserve.New(w.sim.SelfServeURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.CancelRequest(ctx, "mozilla-beta", 987654)
	if !errors.Is(err, selfserve.ErrNotFound) {
		t.Fatalf("CancelRequest of an unknown request = %v, want ErrNotFound", err)
	}
	if !selfserve.IsPermanent(err) {
		t.Errorf("404 should be permanent: %v", err)
	}
	if !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "987654") {
		t.Errorf("error %q should name the status and the request", err)
	}
}

func TestCancelBuildStopsRunningBuild(t *testing.T) {
	w := newWorld(t)
	brid := w.inject(t, "aT0Z9lDJRdWw0Xmpaq4TPA", runningBuilder)
	var build bbsim.BuildRecord
	eventually(t, "the build to start", func() bool {
		for _, b := range w.sim.Builds() {
			if len(b.BRIDs) > 0 && b.BRIDs[0] == brid {
				build = b
				return true
			}
		}
		return false
	})
	c := selfserve.New(w.sim.SelfServeURL()+"/", nil) // a trailing slash in the config is fine
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CancelBuild(ctx, "mozilla-beta", build.ID); err != nil {
		t.Fatalf("CancelBuild: %v", err)
	}
	eventually(t, "the build to finish CANCELLED", func() bool {
		for _, b := range w.sim.Builds() {
			if b.ID == build.ID {
				return b.Result == bbsim.CANCELLED
			}
		}
		return false
	})
	calls := w.sim.SelfServeCalls()
	if p := calls[len(calls)-1].Path; p != "/buildapi/self-serve/mozilla-beta/build/"+itoa(build.ID) {
		t.Errorf("self-serve path = %s, want the build's builds.id", p)
	}
}

func TestOutageIsRetryable(t *testing.T) {
	w := newWorld(t)
	brid := w.inject(t, "Yx3kQ2mrR1Go0aN_pYp1fQ", "win32-never-built")
	w.sim.SetSelfServeDown(true)
	c := selfserve.New(w.sim.SelfServeURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.CancelRequest(ctx, "mozilla-beta", brid)
	if err == nil || selfserve.IsPermanent(err) || errors.Is(err, selfserve.ErrNotFound) {
		t.Fatalf("CancelRequest during an outage = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q should carry the 503", err)
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := selfserve.New(url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.CancelBuild(ctx, "mozilla-beta", 1)
	if err == nil || selfserve.IsPermanent(err) {
		t.Fatalf("CancelBuild to a closed port = %v, want a retryable error", err)
	}
}

func TestCallIsBoundedByContext(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	c := selfserve.New(srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.CancelRequest(ctx, "mozilla-beta", 1)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CancelRequest to a hanging server = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("CancelRequest took %s despite a 300ms deadline", time.Since(start))
	}
}

func TestCredentialsInBaseURLStayOutOfErrors(t *testing.T) {
	w := newWorld(t)
	base := strings.Replace(w.sim.SelfServeURL(), "http://", "http://bridge:s3cr3t-Pa55@", 1)
	c := selfserve.New(base, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.CancelRequest(ctx, "mozilla-beta", 424242)
	if err == nil {
		t.Fatal("want a 404")
	}
	if strings.Contains(err.Error(), "s3cr3t-Pa55") {
		t.Errorf("error leaks the password: %q", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
