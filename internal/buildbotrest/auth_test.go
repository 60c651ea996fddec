package buildbotrest

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// TestAuthMaster runs the client against a real master whose control
// endpoints need a logged-in user.
func TestAuthMaster(t *testing.T) {
	const user, password = "bridge", "s3cret-Pa55word"
	m := buildbot3.Start(t, buildbot3.Options{
		Builders: []string{"linux"},
		Auth:     &buildbot3.Auth{User: user, Password: password},
	})

	t.Run("AnonymousReadsButCannotControl", func(t *testing.T) {
		anon := newClient(t, Config{APIURL: m.APIURL()})
		if _, err := anon.Builders(ctxT(t)); err != nil {
			t.Fatalf("anonymous read: %v", err)
		}
		_, _, err := anon.Force(ctxT(t), ForceRequest{Scheduler: "taskcluster", Builder: "linux", Username: "taskcluster-bridge <bridge@localhost>"})
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden || !IsPermanent(err) || !strings.Contains(he.Body, "role") {
			t.Fatalf("anonymous force = %v, want a permanent 403 about the role", err)
		}
	})

	t.Run("LogsInWhenRefusedAndKeepsTheSession", func(t *testing.T) {
		c := newClient(t, Config{APIURL: m.APIURL(), User: user, Password: password})
		brid := force(t, c, "linux", prop("taskId", "T-auth"), prop("sleep", 0))
		force(t, c, "linux", prop("taskId", "T-auth-2"), prop("sleep", 0))
		if n := c.logins.Load(); n != 1 {
			t.Fatalf("%d logins for two forces, want 1", n)
		}
		// A logged-in force is by the user, whatever username says.
		br, err := c.BuildRequestProperties(ctxT(t), brid)
		if err != nil || br.Properties["owner"][0] != user {
			t.Fatalf("owner = %v, %v; want %q", br.Properties["owner"], err, user)
		}
		if err := c.CancelRequest(ctxT(t), brid, "test"); err != nil {
			t.Fatal(err)
		}

		// A session the master no longer honours is replaced by a new
		// login, once.
		for _, stale := range []string{"", "not-a-session"} {
			before := c.logins.Load()
			c.setSession(stale)
			force(t, c, "linux", prop("taskId", "T-auth-relogin"), prop("sleep", 0))
			if n := c.logins.Load() - before; n != 1 {
				t.Fatalf("session %q: %d logins, want 1", stale, n)
			}
		}
	})

	t.Run("ConcurrentCallersShareOneLogin", func(t *testing.T) {
		c := newClient(t, Config{APIURL: m.APIURL(), User: user, Password: password})
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				_, _, err := c.Force(ctxT(t), ForceRequest{
					Scheduler: "taskcluster", Builder: "linux",
					Properties: []Property{prop("taskId", "T-concurrent"), prop("sleep", 0)},
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := c.logins.Load(); n != 1 {
			t.Fatalf("%d logins, want 1", n)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		const wrong = "Wr0ng-Pa55word"
		c := newClient(t, Config{APIURL: m.APIURL(), User: user, Password: wrong})
		_, _, err := c.Force(ctxT(t), ForceRequest{Scheduler: "taskcluster", Builder: "linux"})
		var le *LoginError
		var he *HTTPError
		if !errors.As(err, &le) || !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !IsPermanent(err) {
			t.Fatalf("force with a wrong password = %v, want a permanent 401 LoginError", err)
		}
		msg := err.Error()
		if strings.Contains(msg, wrong) || strings.Contains(msg, password) || !strings.Contains(msg, "wrong user or password") {
			t.Fatalf("error %q leaks a password or does not say what is wrong", msg)
		}
	})
}
