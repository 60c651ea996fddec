package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// pushPassword is what the test masters' reporter sends to the starter.
const pushPassword = "e2e-push-secret-4Hq8"

// startBuildbot3 starts a real modern Buildbot master and worker whose
// reporter pushes to the starter, and returns the bridge's buildbot
// section for them.
func (e *env) startBuildbot3(o buildbot3.Options) map[string]any {
	t := e.t
	listen := freeAddr(t)
	o.PushURL = "http://" + listen + starter.PushPath
	o.PushPassword = pushPassword
	e.master = buildbot3.Start(t, o)
	backend := localdeploy.BackendREST(e.master.APIURL(), buildbot3.BridgeScheduler, listen, pushPassword)
	cfg := buildbotrest.Config{APIURL: e.master.APIURL(), CallTimeout: 10 * time.Second}
	if o.Auth != nil {
		section := backend["buildbot"].(map[string]any)
		section["user"], section["password"] = o.Auth.User, o.Auth.Password
		cfg.User, cfg.Password = o.Auth.User, o.Auth.Password
	}
	var err error
	if e.bbAPI, err = buildbotrest.New(cfg); err != nil {
		t.Fatal(err)
	}
	return backend
}

// freeAddr is a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t interface{ Fatal(...any) }) string {
	addr, err := localdeploy.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// masterRequests are the task's BuildRequests on the real master, read
// through its REST API as a Buildbot user would.
func (e *env) masterRequests(builder, taskID string) []buildbotrest.BuildRequest {
	e.t.Helper()
	reqs, found := e.findMasterRequests(builder, taskID)
	if !found {
		e.t.Fatalf("builder %q is not on the master", builder)
	}
	return reqs
}

// masterRequestIDs are the ids of the task's requests on any builder of
// the real master.
func (e *env) masterRequestIDs(taskID string) []int64 {
	e.t.Helper()
	reqs, _ := e.findMasterRequests("", taskID)
	var ids []int64
	for _, r := range reqs {
		ids = append(ids, r.ID)
	}
	return ids
}

// findMasterRequests reads the task's requests on builder ("": on every
// builder) and says whether the master has that builder.
func (e *env) findMasterRequests(builder, taskID string) ([]buildbotrest.BuildRequest, bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	builders, err := e.bbAPI.Builders(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []buildbotrest.BuildRequest
	found := false
	for _, b := range builders {
		if builder != "" && b.Name != builder {
			continue
		}
		found = true
		reqs, err := e.bbAPI.FindRequests(ctx, b.ID, taskID, false)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, reqs...)
	}
	return out, found
}

// masterBuilds are the builds of a request on the real master.
func (e *env) masterBuilds(brid int64) []buildbotrest.Build {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	builds, err := e.bbAPI.Builds(ctx, brid)
	if err != nil {
		e.t.Fatal(err)
	}
	return builds
}

// waitBuildRunning waits until the task's request has an unfinished build.
func (e *env) waitBuildRunning(builder, taskID string, timeout time.Duration) buildbotrest.Build {
	e.t.Helper()
	var running buildbotrest.Build
	e.waitFor(timeout, "a build of task "+taskID+" running on the master", func() bool {
		for _, r := range e.masterRequests(builder, taskID) {
			for _, b := range e.masterBuilds(r.ID) {
				if !b.Complete {
					running = b
					return true
				}
			}
		}
		return false
	})
	return running
}

// stepLog reads a build's step log as text through the REST API, as a
// user following the log artifact would.
func (e *env) stepLog(buildID int64, stepName string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	logs, err := e.bbAPI.BuildLogs(ctx, buildID)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, l := range logs {
		names = append(names, l.StepName+"/"+l.Name)
		if l.StepName != stepName {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.RawURL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("log %s: %s", l.RawURL, resp.Status)
		}
		return string(body)
	}
	e.t.Fatalf("build %d has no log of step %q (logs: %s)", buildID, stepName, strings.Join(names, ", "))
	return ""
}

func describeRequests(reqs []buildbotrest.BuildRequest) string {
	var parts []string
	for _, r := range reqs {
		parts = append(parts, fmt.Sprintf("%d(complete=%v results=%d)", r.ID, r.Complete, r.Results))
	}
	return strings.Join(parts, ", ")
}
