package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/freeport"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// TestDemoRealBuildbot runs the demo with -buildbot real three times on one
// data folder, against a real Buildbot 3 master and worker and the real
// RabbitMQ: a first run until its tasks have ended as in simulator mode; a
// restart that reuses the master's directory and database, creates two
// more tasks with -create-task (one for a builder the master lacks) and is
// stopped while a build runs; and a last run in which that build's
// request, left pending by the stop, is built again and its task
// completes.
func TestDemoRealBuildbot(t *testing.T) {
	dir := t.TempDir()
	amqpURL := testenv.RabbitURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ports := realTestPorts(t)

	// Run 1: creates the demo tasks and returns once they all ended.
	first, out := runUntilTasksEnded(t, ctx, realTestOptions(dir, amqpURL, ports))
	if first.Buildbot != buildbotReal {
		t.Fatalf("demo.json after the first run: %+v", first)
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/", ports.www)
	for _, want := range []string{"creating a master", "buildbot-www", "no web UI", apiURL + "api/v2/"} {
		if !strings.Contains(out, want) {
			t.Errorf("the first run's output does not say %q:\n%s", want, out)
		}
	}
	if code, body := get(t, ctx, apiURL+"api/v2/builders"); code != 0 {
		t.Errorf("the master still answers after the run ended: %d %.80q", code, body)
	}
	noSecrets(t, dir, first, out)

	// Run 2: a restart on the same master; Ctrl-C comes while the build of
	// a task created with -create-task runs.
	o2 := realTestOptions(dir, amqpURL, ports)
	o2.BuildDuration = 5 * time.Second // -create-task's linux64 build, long enough to stop under
	second := startDemo(t, ctx, o2)
	if !strings.Contains(second.out.String(), "reusing the master and worker in "+filepath.Join(dir, buildbotDir)) {
		t.Errorf("the restart does not say it reuses the master:\n%s", second.out)
	}

	// The master kept its database: the first run's requests are there,
	// with the builds the simulator's script would have made.
	api, err := buildbotrest.New(buildbotrest.Config{APIURL: apiURL, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wantBuilds := map[string][]int{
		"success": {buildbotrest.Success},
		"failure": {buildbotrest.Failure},
		"retry":   {buildbotrest.Retry, buildbotrest.Success},
		"cancel":  {buildbotrest.Cancelled},
	}
	for kind, want := range wantBuilds {
		k, _ := kindOf(kind)
		reqs, builds := masterRequests(t, ctx, api, k.builder, taskOf(t, first, kind))
		if len(reqs) != 1 || !reqs[0].Complete || reqs[0].Results != want[len(want)-1] || !slices.Equal(builds, want) {
			t.Errorf("%s task on the master: requests %+v with build results %v; want one complete %d with builds %v",
				kind, reqs, builds, want[len(want)-1], want)
		}
	}

	q := queueClient(ctx, second.st.QueueRootURL, second.st.Scheduler)
	extra, _ := createTaskCmd(t, ctx, o2, "linux64")

	// A builder the master does not have: the bridge refuses the task.
	unknown, _ := createTaskCmd(t, ctx, o2, "nosuchbuilder")
	waitRuns(t, ctx, q, unknown, func(runs []string) bool { return slices.Equal(runs, []string{"exception/malformed-payload"}) })

	waitRuns(t, ctx, q, extra, func(runs []string) bool { return len(runs) > 0 && runs[len(runs)-1] == "running/" })
	second.stop(t, "second run")
	// In order: the bridge, then Buildbot's worker, then its master.
	stopped := regexp.MustCompile(`stopped (the bridge starter|the bridge worker|the Buildbot worker|the Buildbot master) `).FindAllStringSubmatch(second.out.String(), -1)
	var order []string
	for _, s := range stopped {
		order = append(order, s[1])
	}
	if want := []string{"the bridge starter", "the bridge worker", "the Buildbot worker", "the Buildbot master"}; !slices.Equal(order, want) {
		t.Errorf("stop order %q, want %q:\n%s", order, want, second.out)
	}
	if code, _ := get(t, ctx, apiURL+"api/v2/builders"); code != 0 {
		t.Error("the master still answers after the second run stopped")
	}

	// Run 3: the request of the build stopped at Ctrl-C is built again,
	// and its task completes in a new run.
	third := startDemo(t, ctx, realTestOptions(dir, amqpURL, ports))
	q = queueClient(ctx, third.st.QueueRootURL, third.st.Scheduler)
	waitRuns(t, ctx, q, extra, func(runs []string) bool { return len(runs) > 0 && runs[len(runs)-1] == "completed/completed" })
	status, err := q.Status(extra)
	if err != nil {
		t.Fatal(err)
	}
	// The bridge was down when the build ended RETRY, so the master's push
	// of it was lost; back, the bridge finds the request building again
	// and the run carries on through the new build. A bridge that heard
	// the RETRY would end the run worker-shutdown and go on in a new one:
	// either is right, nothing else is.
	runs := runsOfStatus(status.Status)
	for _, r := range runs[:len(runs)-1] {
		if r != "exception/worker-shutdown" {
			t.Errorf("task stopped under at Ctrl-C: runs %v, want only worker-shutdown before the last", runs)
		}
	}
	t.Logf("task stopped under at Ctrl-C: runs %v", runs)
	reqs, builds := masterRequests(t, ctx, api, "linux64", extra)
	if len(reqs) != 1 || !slices.Equal(builds, []int{buildbotrest.Retry, buildbotrest.Success}) {
		t.Errorf("task stopped under at Ctrl-C: requests %+v with builds %v, want one with a RETRY then a SUCCESS", reqs, builds)
	}
	third.stop(t, "third run")
	noSecrets(t, dir, readState(t, dir), second.out.String()+third.out.String())
}

type realPorts struct {
	www, pb int
	events  string
}

// realTestPorts are free ports, kept for the test's three runs as the
// demo's fixed defaults are kept between a user's runs.
func realTestPorts(t *testing.T) realPorts {
	t.Helper()
	addrs, err := freeport.Several("127.0.0.1", 3)
	if err != nil {
		t.Fatal(err)
	}
	var ps [3]int
	for i, a := range addrs {
		_, p, _ := net.SplitHostPort(a)
		ps[i], _ = strconv.Atoi(p)
	}
	return realPorts{www: ps[0], pb: ps[1], events: fmt.Sprintf("127.0.0.1:%d", ps[2])}
}

func realTestOptions(dir, amqpURL string, p realPorts) options {
	o := testOptions(dir, amqpURL)
	o.Buildbot = buildbotReal
	o.BuildbotWWWPort, o.BuildbotPBPort, o.EventsListen = p.www, p.pb, p.events
	return o
}

// masterRequests reads the task's requests on builder, and the results of
// their builds in order, through the master's REST API as a Buildbot user
// would.
func masterRequests(t *testing.T, ctx context.Context, api *buildbotrest.Client, builder, taskID string) ([]buildbotrest.BuildRequest, []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	builders, err := api.Builders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range builders {
		if b.Name != builder {
			continue
		}
		reqs, err := api.FindRequests(ctx, b.ID, taskID, false)
		if err != nil {
			t.Fatal(err)
		}
		var results []int
		for _, r := range reqs {
			builds, err := api.Builds(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, bd := range builds {
				if bd.Results == nil {
					results = append(results, -1)
				} else {
					results = append(results, *bd.Results)
				}
			}
		}
		return reqs, results
	}
	t.Fatalf("builder %s is not on the master", builder)
	return nil, nil
}

// noSecrets checks that no credential of the demo reaches its output or
// its log.
func noSecrets(t *testing.T, dir string, st *demoState, out string) {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{
		"the bridge's access token":    st.Bridge.AccessToken,
		"the scheduler's access token": st.Scheduler.AccessToken,
		"the events password":          st.EventsPassword,
	} {
		if secret == "" {
			t.Errorf("%s is empty in demo.json", name)
			continue
		}
		if strings.Contains(out, secret) {
			t.Errorf("%s appears in the demo's output", name)
		}
		if strings.Contains(string(log), secret) {
			t.Errorf("%s appears in %s", name, logFile)
		}
	}
}
