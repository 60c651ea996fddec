package activities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// The REST backend against a real Buildbot 3 master and worker: what the
// workflow reads of a request must match what Buildbot did.
func TestBuildbotRESTBackend(t *testing.T) {
	t.Parallel()
	const builder = "linux64-rest"
	m := buildbot3.Start(t, buildbot3.Options{Builders: []string{builder}})
	api, err := buildbotrest.New(buildbotrest.Config{APIURL: m.APIURL(), CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bb := activities.NewBuildbotREST(api, buildbot3.BridgeScheduler, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inject := func(taskID, sleep string) activities.InjectResult {
		t.Helper()
		res, err := bb.Inject(ctx, activities.InjectInput{
			TaskID: taskID, BuilderName: builder,
			Sourcestamp: activities.Sourcestamp{Branch: "mozilla-central", Revision: "0123456789ab"},
			Properties: []activities.Property{{Name: "product", Value: []byte(`"firefox"`)},
				{Name: "sleep", Value: []byte(sleep)}, {Name: "taskId", Value: []byte(`"forged"`)}},
		})
		if err != nil {
			t.Fatalf("inject %s: %v", taskID, err)
		}
		return res
	}
	waitState := func(brid int64, what string, cond func(activities.BuildRequestState) bool) activities.BuildRequestState {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, err := bb.Request(ctx, brid)
			if err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d never %s: %+v", brid, what, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// A long build holds the builder, so the next request stays pending.
	first := inject("T-first", "30")
	if !first.Created || !first.PollRunning {
		t.Fatalf("inject = %+v, want a new request the workflow polls", first)
	}
	// A retried inject (the force's reply lost) finds the request.
	if again := inject("T-first", "30"); again.Created || again.BuildRequestID != first.BuildRequestID {
		t.Errorf("second inject = %+v, want request %d again", again, first.BuildRequestID)
	}
	running := waitState(first.BuildRequestID, "running", func(st activities.BuildRequestState) bool { return st.RunningBuilds == 1 })
	if running.Complete || running.ClaimedAt == 0 || running.Builds != 1 {
		t.Errorf("running request read as %+v", running)
	}
	props, err := api.BuildRequestProperties(ctx, first.BuildRequestID)
	if err != nil {
		t.Fatal(err)
	}
	if v := props.Properties["taskId"]; v[0] != "T-first" {
		t.Errorf("taskId property %v: the payload's own taskId must not win", v)
	}

	second := inject("T-second", "1")
	pending, err := bb.Request(ctx, second.BuildRequestID)
	if err != nil {
		t.Fatal(err)
	}
	if pending.Complete || pending.ClaimedAt != 0 || pending.Builds != 0 {
		t.Errorf("pending request read as %+v", pending)
	}

	// Cancelled before it started: the workflow and the sweep both see a
	// request that never had a build, though Buildbot claimed it to cancel.
	res, err := bb.CancelRequest(ctx, second.BuildRequestID)
	if err != nil || res.Requested != 1 {
		t.Fatalf("cancel pending = %+v, %v", res, err)
	}
	cancelled := waitState(second.BuildRequestID, "complete", func(st activities.BuildRequestState) bool { return st.Complete })
	if cancelled.ClaimedAt != 0 || cancelled.Results == nil || *cancelled.Results != buildbotrest.Cancelled || cancelled.Interrupted != "" {
		t.Errorf("cancelled request read as %+v, want complete CANCELLED, never claimed by a build", cancelled)
	}
	found, next, err := bb.Cancelled(ctx, activities.Watermark{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].TaskID != "T-second" || found[0].BuildRequestID != second.BuildRequestID {
		t.Errorf("sweep found %+v, want T-second's request", found)
	}
	if again, _, err := bb.Cancelled(ctx, next, 100); err != nil || len(again) != 0 {
		t.Errorf("the next pass found %+v (%v), want nothing new", again, err)
	}

	// A build is running before its first step has a log: under load the
	// stop below could come first, and the references would rightly have
	// no log to name.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		builds, err := api.Builds(ctx, first.BuildRequestID)
		if err != nil {
			t.Fatal(err)
		}
		if len(builds) == 1 {
			if logs, err := api.BuildLogs(ctx, builds[0].ID); err != nil {
				t.Fatal(err)
			} else if len(logs) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("build of request %d has no step log after 60 s", first.BuildRequestID)
		}
	}

	// Stop the running build: it ends CANCELLED, which is no interruption.
	stop, err := bb.CancelBuilds(ctx, first.BuildRequestID)
	if err != nil || stop.Requested != 1 {
		t.Fatalf("cancel builds = %+v, %v", stop, err)
	}
	stopped := waitState(first.BuildRequestID, "complete", func(st activities.BuildRequestState) bool { return st.Complete })
	if stopped.Results == nil || *stopped.Results != buildbotrest.Cancelled || stopped.Interrupted != "" || stopped.RunningBuilds != 0 {
		t.Errorf("stopped request read as %+v", stopped)
	}
	// A stopped build was claimed: the sweep leaves it to its finish.
	if again, _, err := bb.Cancelled(ctx, next, 100); err != nil || len(again) != 0 {
		t.Errorf("the sweep reported a stopped build's request: %+v (%v)", again, err)
	}
	builds, err := api.Builds(ctx, first.BuildRequestID)
	if err != nil || len(builds) != 1 {
		t.Fatalf("builds %+v, %v", builds, err)
	}
	refs, err := bb.References(ctx, first.BuildRequestID, builds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var page, logs int
	for _, r := range refs {
		switch {
		case r.Name == activities.BuildPageArtifact && strings.HasPrefix(r.URL, m.APIURL()):
			page++
		case strings.HasPrefix(r.Name, "public/logs/") && strings.Contains(r.URL, "/raw"):
			logs++
		default:
			t.Errorf("unexpected reference %+v", r)
		}
	}
	if page != 1 || logs == 0 {
		t.Errorf("references %+v, want the build page and its step logs", refs)
	}

	// A builder the master lacks is the task's fault, and final.
	_, err = bb.Inject(ctx, activities.InjectInput{TaskID: "T-none", BuilderName: "no-such-builder"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrBadPayload || !strings.Contains(err.Error(), "no-such-builder") {
		t.Errorf("unknown builder: %v, want a final %s naming it", err, activities.ErrBadPayload)
	}
}

// BenchmarkBuildbotRESTInject measures what one task's request costs on a
// real Buildbot 3.7 master: the look for an existing request of the task,
// then the force. Each request is cancelled at once so the builder's queue
// stays short.
func BenchmarkBuildbotRESTInject(b *testing.B) {
	const builder = "linux64-bench"
	m := buildbot3.Start(b, buildbot3.Options{Builders: []string{builder}})
	api, err := buildbotrest.New(buildbotrest.Config{APIURL: m.APIURL(), CallTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	bb := activities.NewBuildbotREST(api, buildbot3.BridgeScheduler, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	in := activities.InjectInput{BuilderName: builder,
		Sourcestamp: activities.Sourcestamp{Branch: "mozilla-central", Revision: "0123456789ab"},
		Properties:  []activities.Property{{Name: "product", Value: []byte(`"firefox"`)}, {Name: "sleep", Value: []byte(`0`)}}}
	var made []int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.TaskID = fmt.Sprintf("T-bench-%d", i)
		res, err := bb.Inject(ctx, in)
		if err != nil || !res.Created {
			b.Fatalf("inject: %+v, %v", res, err)
		}
		made = append(made, res.BuildRequestID)
	}
	b.StopTimer()
	for _, brid := range made {
		_, _ = bb.CancelRequest(ctx, brid)
	}
}
