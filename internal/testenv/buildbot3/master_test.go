package buildbot3

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
)

// One master goes through the helper's whole life cycle: the builders the
// bridge scheduler leaves out still get a scheduler (Buildbot refuses the
// config otherwise), the worker can die under a build and come back, and
// the master can restart with its worker reconnected.
func TestMasterLifeCycle(t *testing.T) {
	m := Start(t, Options{
		Builders:          []string{"linux64", "win64"},
		SchedulerBuilders: []string{"linux64"},
		Auth:              &Auth{User: "bridge", Password: `pa"ss'\word`},
	})
	if !strings.HasPrefix(m.APIURL(), "http://127.0.0.1:") || !strings.HasSuffix(m.APIURL(), "/") {
		t.Fatalf("APIURL() = %q", m.APIURL())
	}
	var scheds struct {
		Schedulers []struct {
			BuilderNames []string `json:"builder_names"`
		} `json:"forceschedulers"`
	}
	if err := apiGet(m.APIURL()+"api/v2/forceschedulers/"+BridgeScheduler, &scheds); err != nil {
		t.Fatal(err)
	}
	if len(scheds.Schedulers) != 1 || strings.Join(scheds.Schedulers[0].BuilderNames, ",") != "linux64" {
		t.Fatalf("bridge scheduler = %+v, want builder_names [linux64]", scheds.Schedulers)
	}

	c, err := buildbotrest.New(buildbotrest.Config{APIURL: m.APIURL(), User: "bridge", Password: `pa"ss'\word`})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, brid, err := c.Force(ctx, buildbotrest.ForceRequest{
		Scheduler: BridgeScheduler, Builder: "linux64", Username: "t <t@localhost>",
		Properties: []buildbotrest.Property{{Name: "taskId", Value: json.RawMessage(`"T1"`)}, {Name: "sleep", Value: json.RawMessage(`60`)}},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Killed as soon as its build exists, even while the build is still
	// preparing the worker, the worker leaves a RETRY, not a wedged build.
	waitBuilds(t, c, brid, "a first build", func(b []buildbotrest.Build) bool { return len(b) == 1 })
	m.StopWorker(t)
	waitBuilds(t, c, brid, "the first build to end RETRY", func(b []buildbotrest.Build) bool {
		return len(b) == 1 && b[0].Results != nil && *b[0].Results == buildbotrest.Retry
	})

	// The restarted worker builds the request again; a clean master restart
	// then cancels that build, and its request.
	m.StartWorker(t)
	waitBuilds(t, c, brid, "a second build", func(b []buildbotrest.Build) bool { return len(b) == 2 })
	m.Restart(t)
	waitBuilds(t, c, brid, "the second build to end CANCELLED", func(b []buildbotrest.Build) bool {
		return len(b) == 2 && b[1].Results != nil && *b[1].Results == buildbotrest.Cancelled
	})
	if br, err := c.BuildRequest(ctx, brid); err != nil || !br.Complete || br.Results != buildbotrest.Cancelled {
		t.Fatalf("request after the restart = %+v, %v; want complete CANCELLED", br, err)
	}

	// The master and worker work after the restart.
	_, brid, err = c.Force(ctx, buildbotrest.ForceRequest{
		Scheduler: BridgeScheduler, Builder: "linux64", Username: "t <t@localhost>",
		Properties: []buildbotrest.Property{{Name: "sleep", Value: json.RawMessage(`0`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitBuilds(t, c, brid, "a SUCCESS after the restart", func(b []buildbotrest.Build) bool {
		return len(b) == 1 && b[0].Results != nil && *b[0].Results == buildbotrest.Success
	})
}

func waitBuilds(t *testing.T, c *buildbotrest.Client, brid int64, what string, ok func([]buildbotrest.Build) bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		builds, err := c.Builds(ctx, brid)
		cancel()
		if err == nil && ok(builds) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s of request %d: builds %s, %v", what, brid, fmt.Sprintf("%+v", builds), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
