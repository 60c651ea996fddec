package activities_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func TestCreateArtifacts(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	taskID := b.createTask(t, taskSpec{})
	var st activities.TaskStatus
	b.must(t, &st, b.acts.TaskStatus, taskID)
	b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})

	in := activities.ArtifactsInput{
		TaskID: taskID, RunID: 0,
		Properties: map[string][2]any{
			"buildername": {"WINNT 5.2 mozilla-beta build", "Builder"},
			"log_url":     {"http://ftp.example/logs/x.txt.gz", "postrun.py"},
			"request_ids": {[]any{4711, 4712}, "postrun.py"},
			"taskId":      {taskID, "bbb"},
		},
		LogURL:  "http://ftp.example/logs/x.txt.gz",
		Expires: st.Expires,
	}
	b.must(t, nil, b.acts.CreateArtifacts, in)
	// The activity may be retried after a lost reply: the same again is fine.
	b.must(t, nil, b.acts.CreateArtifacts, in)

	arts := b.queue.Artifacts(taskID, 0)
	if len(arts) != 2 {
		t.Fatalf("artifacts = %+v, want properties and log", arts)
	}
	byName := map[string]int{}
	for i, a := range arts {
		byName[a.Name] = i
	}
	props, ok := byName["public/properties.json"]
	if !ok {
		t.Fatalf("no public/properties.json among %+v", arts)
	}
	p := arts[props]
	if p.StorageType != "s3" || p.ContentType != "application/json" || !p.Uploaded || p.BodyContentType != "application/json" {
		t.Errorf("properties.json = %s/%s uploaded %v as %q, want s3 application/json uploaded as application/json",
			p.StorageType, p.ContentType, p.Uploaded, p.BodyContentType)
	}
	if !p.Expires.Equal(st.Expires) {
		t.Errorf("properties.json expires %s, want the task's %s", p.Expires, st.Expires)
	}
	var body map[string][2]any
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatalf("uploaded properties %q: %v", p.Body, err)
	}
	want := map[string][2]any{
		"buildername": {"WINNT 5.2 mozilla-beta build", "Builder"},
		"log_url":     {"http://ftp.example/logs/x.txt.gz", "postrun.py"},
		"request_ids": {[]any{4711.0, 4712.0}, "postrun.py"},
		"taskId":      {taskID, "bbb"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("uploaded properties = %v, want %v", body, want)
	}

	logIdx, ok := byName["public/logs/live_backing.log.gz"]
	if !ok {
		t.Fatalf("no public/logs/live_backing.log.gz among %+v", arts)
	}
	l := arts[logIdx]
	if l.StorageType != "reference" || l.ContentType != "application/gzip" || l.URL != in.LogURL || !l.Expires.Equal(st.Expires) {
		t.Errorf("log artifact = %+v, want a reference to %s, application/gzip, expiring with the task", l, in.LogURL)
	}
}

func TestCreateArtifactsWithoutLogAndExpiresFromTask(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	taskID := b.createTask(t, taskSpec{})
	b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	b.must(t, nil, b.acts.CreateArtifacts, activities.ArtifactsInput{
		TaskID: taskID, RunID: 0,
		Properties: map[string][2]any{"product": {"firefox", "bbb"}},
	})
	arts := b.queue.Artifacts(taskID, 0)
	if len(arts) != 1 || arts[0].Name != "public/properties.json" {
		t.Fatalf("artifacts = %+v, want only public/properties.json", arts)
	}
	var st activities.TaskStatus
	b.must(t, &st, b.acts.TaskStatus, taskID)
	if !arts[0].Expires.Equal(st.Expires) {
		t.Errorf("expires %s, want the task's %s", arts[0].Expires, st.Expires)
	}
}

func TestCreateArtifactsAfterCompletionIsConflict(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	taskID := b.createTask(t, taskSpec{})
	b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	b.must(t, nil, b.acts.ReportCompleted, activities.RunRef{TaskID: taskID, RunID: 0})
	err := b.run(t, nil, b.acts.CreateArtifacts, activities.ArtifactsInput{
		TaskID: taskID, RunID: 0, Properties: map[string][2]any{"product": {"firefox", "bbb"}},
	})
	wantFinal(t, err, activities.ErrTCConflict)
}

// public/build-result.json goes up as the workflow wrote it; a run resolved
// from its BuildRequest row gets it without a properties.json.
func TestCreateArtifactsUploadsTheBuildResult(t *testing.T) {
	t.Parallel()
	b := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t)})
	for _, c := range []struct {
		name         string
		noProperties bool
		want         []string
	}{
		{"finished event", false, []string{"public/build-result.json", "public/properties.json"}},
		{"request row", true, []string{"public/build-result.json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			taskID := b.createTask(t, taskSpec{})
			var st activities.TaskStatus
			b.must(t, &st, b.acts.TaskStatus, taskID)
			b.must(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
			builder, number := "WINNT 5.2 mozilla-beta build", 42
			doc := &activities.BuildResult{
				Buildbot:       activities.BuildbotResult{Result: "WARNINGS", Code: 1},
				Treeherder:     "testfailed",
				Taskcluster:    activities.TCResolution{Call: "reportFailed"},
				Builder:        &builder,
				BuildNumber:    &number,
				BuildRequestID: 4711,
				Source:         c.name,
			}
			b.must(t, nil, b.acts.CreateArtifacts, activities.ArtifactsInput{
				TaskID: taskID, RunID: 0, Properties: map[string][2]any{"product": {"firefox", "bbb"}},
				BuildResult: doc, NoProperties: c.noProperties,
			})
			var names []string
			var got tcfake.StoredArtifact
			for _, a := range b.queue.Artifacts(taskID, 0) {
				names = append(names, a.Name)
				if a.Name == activities.BuildResultArtifact {
					got = a
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, c.want) {
				t.Fatalf("artifacts %v, want %v", names, c.want)
			}
			if got.StorageType != "s3" || got.ContentType != "application/json" || !got.Uploaded || !got.Expires.Equal(st.Expires) {
				t.Errorf("build-result.json stored %s %s uploaded %v expiring %s, want s3 application/json uploaded, expiring with the task (%s)",
					got.StorageType, got.ContentType, got.Uploaded, got.Expires, st.Expires)
			}
			want := `{"buildbot":{"result":"WARNINGS","code":1},"treeherder":"testfailed","taskcluster":{"call":"reportFailed"},` +
				`"builder":"WINNT 5.2 mozilla-beta build","buildNumber":42,"master":null,"buildRequestId":4711,` +
				`"startedAt":null,"finishedAt":null,"source":"` + c.name + `","interrupted":null}`
			if string(got.Body) != want {
				t.Errorf("build-result.json body\n got  %s\n want %s", got.Body, want)
			}
		})
	}
}
