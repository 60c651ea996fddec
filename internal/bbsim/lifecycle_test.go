package bbsim

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBuildLifecycle(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "build.*.*.started", "build.*.*.log_uploaded")
		sim := fx.startSim(t, Options{})
		const builder = "WINNT 5.2 mozilla-beta build"
		const taskID = "fN1QmFB6RyOgWRVqx3lQMw"
		brid := fx.inject(t, taskID, builder, "releases/mozilla-beta")

		started := c.next(t, 20*time.Second)
		n := started.Body.Payload.Build.Number
		if want := keyOf("WINNT_5_2_mozilla-beta_build", n, "started"); started.Key != want {
			t.Fatalf("started routing key = %q, want %q", started.Key, want)
		}
		rows := fx.buildsOf(t, brid)
		if len(rows) != 1 || rows[0].number != int64(n) {
			t.Fatalf("builds rows of brid %d when started arrived = %+v, want one with number %d", brid, rows, n)
		}
		sb := started.Body
		if sb.Payload.Build.BuilderName != builder {
			t.Errorf("started builderName = %q, want %q", sb.Payload.Build.BuilderName, builder)
		}
		if !slices.Equal(sb.Payload.RequestIDs, []int64{brid}) {
			t.Errorf("started request_ids = %v, want [%d]", sb.Payload.RequestIDs, brid)
		}
		if sb.Payload.Build.Results != nil {
			t.Errorf("started build.results = %d, want null", *sb.Payload.Build.Results)
		}
		if len(sb.Payload.Build.Times) != 2 || sb.Payload.Build.Times[0] == nil || sb.Payload.Build.Times[1] != nil {
			t.Errorf("started build.times = %v, want [start, null]", sb.Payload.Build.Times)
		}
		if sb.Payload.Build.Reason != "Created by BBB for task "+taskID {
			t.Errorf("started build.reason = %q", sb.Payload.Build.Reason)
		}
		if b := sb.Payload.Build.SourceStamp.Branch; b == nil || *b != "releases/mozilla-beta" {
			t.Errorf("started sourceStamp.branch = %v", b)
		}
		checkProp(t, sb, "taskId", taskID, "bbb")
		checkProp(t, sb, "product", "firefox", "bbb")
		checkProp(t, sb, "buildername", builder, "Builder")
		checkProp(t, sb, "buildnumber", float64(n), "Build")
		if _, _, ok := sb.prop("log_url"); ok {
			t.Errorf("started carries log_url; only postrun.py adds it")
		}
		master := sim.MasterNames()[0]
		checkMeta(t, started, master)

		lu := c.next(t, 20*time.Second)
		if want := keyOf("WINNT_5_2_mozilla-beta_build", n, "log_uploaded"); lu.Key != want {
			t.Fatalf("log_uploaded routing key = %q, want %q", lu.Key, want)
		}
		lb := lu.Body
		if r := lb.Payload.Build.Results; r == nil || *r != SUCCESS {
			t.Errorf("log_uploaded build.results = %v, want 0", r)
		}
		if lb.Payload.Build.BuilderName != builder {
			t.Errorf("log_uploaded builderName = %q", lb.Payload.Build.BuilderName)
		}
		checkProp(t, lb, "taskId", taskID, "bbb")
		checkProp(t, lb, "product", "firefox", "bbb")
		checkProp(t, lb, "request_ids", []any{float64(brid)}, "postrun.py")
		checkProp(t, lb, "buildername", builder, "Builder")
		for _, name := range []string{"branch", "revision", "slavename", "buildnumber", "master", "statusdb_id"} {
			if _, _, ok := lb.prop(name); !ok {
				t.Errorf("log_uploaded lacks property %q", name)
			}
		}
		req := fx.request(t, brid)
		times, src, _ := lb.prop("request_times")
		wantTimes := map[string]any{strconv.FormatInt(brid, 10): float64(submittedAt(t, fx, brid))}
		if src != "postrun.py" || fmt.Sprint(times) != fmt.Sprint(wantTimes) {
			t.Errorf("request_times = %v (%s), want %v (postrun.py)", times, src, wantTimes)
		}
		logURL, src, ok := lb.prop("log_url")
		if !ok || src != "postrun.py" {
			t.Fatalf("log_url = %v (%s), want a URL from postrun.py", logURL, src)
		}
		var names []string
		for _, p := range lb.Payload.Build.Properties {
			names = append(names, p[0].(string))
		}
		if !slices.IsSorted(names) {
			t.Errorf("properties not sorted by name: %v", names)
		}
		checkMeta(t, lu, master)

		if req.complete != 1 || !req.results.Valid || req.results.Int64 != SUCCESS || !req.completeAt.Valid {
			t.Errorf("buildrequest after the build = %+v, want complete=1 results=0 complete_at set", req)
		}
		if req.claimedBy.String != master || !regexp.MustCompile(`^pid\d+-boot\d+$`).MatchString(req.incarnation.String) {
			t.Errorf("claimed by %q incarnation %q, want %q and pid<N>-boot<T>", req.claimedBy.String, req.incarnation.String, master)
		}
		var bsComplete, bsResults int
		if err := fx.db.SQL().QueryRow(`SELECT complete, results FROM buildsets WHERE id = ?`, req.buildsetID).
			Scan(&bsComplete, &bsResults); err != nil || bsComplete != 1 || bsResults != SUCCESS {
			t.Errorf("buildset: complete=%d results=%d err=%v, want 1, 0", bsComplete, bsResults, err)
		}
		if rows := fx.buildsOf(t, brid); len(rows) != 1 || !rows[0].finish.Valid {
			t.Errorf("builds rows after finish = %+v, want one with finish_time", rows)
		}

		text := fetchLog(t, logURL.(string))
		if !strings.Contains(text, builder) {
			t.Errorf("log at %s does not name the builder:\n%s", logURL, text)
		}
		recs := sim.Builds()
		if len(recs) != 1 || recs[0].Result != SUCCESS || !slices.Equal(recs[0].BRIDs, []int64{brid}) ||
			recs[0].Number != n || recs[0].ID != rows[0].id || recs[0].Finished.IsZero() {
			t.Errorf("Builds() = %+v", recs)
		}
	})
}

func TestRoutingKeyUsesEscapedBuilderDir(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "build.*.*.started")
		fx.startSim(t, Options{})
		brid := fx.inject(t, "Hq3oZx5mRbG7pQ0cXfYw1A", "foo.bar baz", "try")
		m := c.next(t, 20*time.Second)
		if want := keyOf("foo_bar_baz", m.Body.Payload.Build.Number, "started"); m.Key != want {
			t.Errorf("routing key = %q, want %q", m.Key, want)
		}
		if m.Body.Payload.Build.BuilderName != "foo.bar baz" {
			t.Errorf("builderName = %q, want the builder's real name", m.Body.Payload.Build.BuilderName)
		}
		if !slices.Equal(m.Body.Payload.RequestIDs, []int64{brid}) {
			t.Errorf("request_ids = %v", m.Body.Payload.RequestIDs)
		}
	})
}

func TestBuilderDirOverride(t *testing.T) {
	fx := newFixture(t, "sqlite")
	c := fx.consume(t, "build.*.*.started")
	fx.startSim(t, Options{BuilderDirs: map[string]string{"Linux x86-64 mozilla-central build": "m-cen-lnx64"}})
	fx.inject(t, "Jq3oZx5mRbG7pQ0cXfYw1A", "Linux x86-64 mozilla-central build", "mozilla-central")
	m := c.next(t, 20*time.Second)
	if want := keyOf("m-cen-lnx64", m.Body.Payload.Build.Number, "started"); m.Key != want {
		t.Errorf("routing key = %q, want %q", m.Key, want)
	}
}

func checkProp(t *testing.T, b eventBody, name string, value any, source string) {
	t.Helper()
	v, src, ok := b.prop(name)
	if !ok {
		t.Errorf("property %q missing", name)
		return
	}
	if fmt.Sprint(v) != fmt.Sprint(value) || src != source {
		t.Errorf("property %q = [%v, %q], want [%v, %q]", name, v, src, value, source)
	}
}

func checkMeta(t *testing.T, m message, master string) {
	t.Helper()
	meta := m.Body.Meta
	if meta["routing_key"] != m.Key || meta["exchange"] != "exchange/build" || meta["serializer"] != "json" ||
		meta["master_name"] != master || meta["master_incarnation"] == nil || meta["message_id"] == nil || meta["sent"] == nil {
		t.Errorf("_meta of %s = %v", m.Key, meta)
	}
}

func submittedAt(t *testing.T, fx *fixture, brid int64) int64 {
	t.Helper()
	var at int64
	if err := fx.db.SQL().QueryRow(`SELECT submitted_at FROM buildrequests WHERE id = ?`, brid).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

func fetchLog(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("log at %s is not gzip: %v", url, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
