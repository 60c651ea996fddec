package buildbotrest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bodies under testdata/push were pushed by a real Buildbot 3.7
// master running bridge_reporter (go test -run TestOpenMaster -args
// -record writes them again).
func TestDecodePushRealBodies(t *testing.T) {
	for _, tc := range []struct {
		file    string
		kind    PushKind
		results int
		taskID  string
		build   bool
	}{
		{"request-new", PushOther, -1, "T-success", false},
		{"build-started", PushBuildStarted, -1, "T-success", true},
		{"build-finished-success", PushBuildFinished, Success, "T-success", true},
		{"build-finished-failure", PushBuildFinished, Failure, "T-failure", true},
		{"build-finished-cancelled", PushBuildFinished, Cancelled, "T-stopped", true},
		{"build-finished-retry", PushBuildFinished, Retry, "T-retry", true},
		{"request-cancelled", PushRequestCancelled, Cancelled, "T-pending", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "push", tc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := DecodePush(body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tc.kind || p.Results != tc.results || p.TaskID != tc.taskID {
				t.Fatalf("got kind %v results %d taskId %q, want %v %d %q", p.Kind, p.Results, p.TaskID, tc.kind, tc.results, tc.taskID)
			}
			if p.BuildRequestID <= 0 || p.BuilderID <= 0 || p.BuilderName == "" || p.URL == "" {
				t.Fatalf("request, builder or URL missing: %+v", p)
			}
			if got := p.BuildID > 0 && p.BuildNumber > 0 && p.MasterID > 0; got != tc.build {
				t.Fatalf("build ids %d/%d/%d, want them set: %v", p.BuildID, p.BuildNumber, p.MasterID, tc.build)
			}
			if src := p.Properties["taskId"][1]; src != "Force Build Form" {
				t.Fatalf("taskId source = %v", src)
			}
			if got := p.StartedAt > 0; got != tc.build {
				t.Fatalf("started_at %d, want it set: %v", p.StartedAt, tc.build)
			}
			if got := p.CompleteAt > 0; got != (tc.kind == PushBuildFinished) {
				t.Fatalf("complete_at %d on a %v push", p.CompleteAt, tc.kind)
			}
		})
	}
}

func TestDecodePushRefusesWhatItCannotRead(t *testing.T) {
	for _, body := range []string{
		``,
		`null`,
		`[]`,
		`"x"`,
		`{`,
		`{}`,
		`{"complete": true}`,
		`{"buildid": 1, "buildrequestid": 2}`,
		`{"buildid": 1, "complete": true}`,
		`{"buildid": "1", "buildrequestid": 2, "complete": true}`,
		`{"buildid": 1, "buildrequestid": 2, "complete": "yes"}`,
		`{"buildid": 1, "buildrequestid": 2, "complete": true, "results": 1.5}`,
		`{"buildid": 1, "buildrequestid": 2, "complete": true, "properties": {"taskId": "bare"}}`,
		`{"buildrequest": {}, "complete": true, "results": 6}`,
		`{"buildrequest": [], "complete": true, "results": 6}`,
		`{"buildrequest": {"buildrequestid": 3}, "complete": false} trailing`,
	} {
		if p, err := DecodePush([]byte(body)); err == nil {
			t.Errorf("DecodePush(%s) = %+v, want an error", body, p)
		} else if !strings.HasPrefix(err.Error(), "buildbotrest: ") {
			t.Errorf("DecodePush(%s): error %q does not say where it comes from", body, err)
		}
	}
}

func TestDecodePushShapes(t *testing.T) {
	p, err := DecodePush([]byte(`{"buildrequest": {"buildrequestid": 3, "builderid": 4, "buildername": "b"}, "complete": true, "results": 0}`))
	if err != nil || p.Kind != PushOther || p.BuildRequestID != 3 || p.BuilderID != 4 || p.BuilderName != "b" || p.TaskID != "" {
		t.Fatalf("a completed request that was not cancelled: %+v, %v", p, err)
	}
	p, err = DecodePush([]byte(`{"buildid": 7, "number": 2, "buildrequestid": 3, "complete": true, "results": null, "properties": {"taskId": [5, "x"]}}`))
	if err != nil || p.Kind != PushBuildFinished || p.Results != -1 || p.TaskID != "" {
		t.Fatalf("a finished build without results or a string taskId: %+v, %v", p, err)
	}
}

func FuzzDecodePush(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "push", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"buildrequest": {"buildrequestid": 3}, "complete": true, "results": 6}`))
	f.Add([]byte(`{"buildid": 1, "buildrequestid": 2, "complete": false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodePush(body)
		if err != nil {
			return
		}
		if p.BuildRequestID <= 0 {
			t.Fatalf("decoded a push without a request: %+v", p)
		}
		switch p.Kind {
		case PushBuildStarted, PushBuildFinished:
			if p.BuildID <= 0 {
				t.Fatalf("a build push without a build: %+v", p)
			}
		case PushRequestCancelled:
			if p.BuildID != 0 || p.Results != Cancelled {
				t.Fatalf("a request push with a build or the wrong results: %+v", p)
			}
		case PushOther:
			if p.BuildID != 0 {
				t.Fatalf("an other push with a build: %+v", p)
			}
		default:
			t.Fatalf("unknown kind %d", p.Kind)
		}
		if p.Kind != PushBuildFinished && p.Kind != PushRequestCancelled && p.Results != -1 {
			t.Fatalf("results %d on a push that has none: %+v", p.Results, p)
		}
	})
}
