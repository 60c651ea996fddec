package bbsim

import (
	"context"
	"strings"
	"testing"
	"time"
)

// eventsByBuilder collects messages until none arrives for a second and
// groups their kinds (started, finished, log_uploaded) by builder, in order.
func eventsByBuilder(t *testing.T, c *consumer, atLeast int) (map[string][]string, map[string][]message) {
	t.Helper()
	kinds, msgs := map[string][]string{}, map[string][]message{}
	for i := 0; ; i++ {
		timeout := time.Second
		if i < atLeast {
			timeout = 20 * time.Second
		}
		select {
		case m := <-c.msgs:
			b := m.Body.Payload.Build.BuilderName
			kinds[b] = append(kinds[b], m.Key[strings.LastIndex(m.Key, ".")+1:])
			msgs[b] = append(msgs[b], m)
		case <-time.After(timeout):
			if i < atLeast {
				t.Fatalf("only %d events, want at least %d: %v", i, atLeast, kinds)
			}
			return kinds, msgs
		}
	}
}

func TestScriptedEventFaults(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "#")
		d := 100 * time.Millisecond
		fx.startSim(t, Options{Script: ByBuilder(map[string][]Attempt{
			"dup":     {{Result: SUCCESS, Duration: d, DuplicateEvents: true}},
			"reorder": {{Result: FAILURE, Duration: d, LogUploadedBeforeStarted: true}},
			"drop":    {{Result: SUCCESS, Duration: d, DropStarted: true, DropLogUploaded: true}},
			"nolog":   {{Result: WARNINGS, Duration: d, NoLogURL: true}},
		})})
		for i, b := range []string{"dup", "reorder", "drop", "nolog"} {
			fx.inject(t, strings.Repeat(string(rune('a'+i)), 22), b, "try")
		}
		kinds, msgs := eventsByBuilder(t, c, 6+3+1+3)
		want := map[string]string{
			"dup":     "started started finished finished log_uploaded log_uploaded",
			"reorder": "finished log_uploaded started",
			"drop":    "finished",
			"nolog":   "started finished log_uploaded",
		}
		for b, w := range want {
			if got := strings.Join(kinds[b], " "); got != w {
				t.Errorf("builder %s events: %q, want %q", b, got, w)
			}
		}
		if len(msgs["dup"]) == 6 && string(msgs["dup"][0].Raw) != string(msgs["dup"][1].Raw) {
			t.Errorf("duplicated started events differ:\n%s\n%s", msgs["dup"][0].Raw, msgs["dup"][1].Raw)
		}
		if len(msgs["nolog"]) == 3 {
			lu := msgs["nolog"][2].Body
			if v, _, ok := lu.prop("log_url"); ok {
				t.Errorf("NoLogURL build has log_url %v", v)
			}
			if _, src, ok := lu.prop("request_ids"); !ok || src != "postrun.py" {
				t.Errorf("NoLogURL build lacks postrun.py's request_ids")
			}
			if r := lu.Payload.Build.Results; r == nil || *r != WARNINGS {
				t.Errorf("nolog results = %v, want 1", r)
			}
		}
	})
}

// A build scripted to run Forever keeps its claim fresh and ends only when
// told, through the normal finish path.
func TestForeverBuildRefreshesClaimAndFinishesWhenTold(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		c := fx.consume(t, "build.*.*.started", "build.*.*.log_uploaded")
		sim := fx.startSim(t, Options{
			Script:               Fixed(Attempt{Duration: Forever}, Attempt{Result: SUCCESS}),
			ClaimRefreshInterval: 300 * time.Millisecond,
		})
		brid := fx.inject(t, "Fvr1Zx5mRbG7pQ0cXfYw1A", "Linux x86-64 mozilla-release build", "releases/mozilla-release")
		c.next(t, 20*time.Second)
		first := fx.request(t, brid).claimedAt
		waitFor(t, 10*time.Second, "claimed_at refreshed", func() bool { return fx.request(t, brid).claimedAt > first })
		c.quiet(t, 500*time.Millisecond)
		recs := sim.Builds()
		if len(recs) != 1 || recs[0].Result != -1 || !recs[0].Finished.IsZero() {
			t.Fatalf("Builds() while running = %+v", recs)
		}
		if err := sim.FinishBuild(recs[0].ID, WARNINGS); err != nil {
			t.Fatal(err)
		}
		lu := c.next(t, 20*time.Second)
		if r := lu.Body.Payload.Build.Results; r == nil || *r != WARNINGS {
			t.Errorf("log_uploaded results = %v, want 1", r)
		}
		if r := fx.request(t, brid); r.complete != 1 || r.results.Int64 != WARNINGS {
			t.Errorf("request = %+v, want complete with 1", r)
		}
		if err := sim.FinishBuild(recs[0].ID, SUCCESS); err == nil {
			t.Error("FinishBuild of a finished build succeeded")
		}
	})
}

// A property the master cannot decode stops it from building the request,
// as it broke a real master; the Sim reports it.
func TestUndecodablePropertyIsReported(t *testing.T) {
	bothDBs(t, func(t *testing.T, fx *fixture) {
		brid := fx.inject(t, "Bad1Zx5mRbG7pQ0cXfYw1A", "Linux mozilla-central build", "mozilla-central")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := fx.db.SQL().ExecContext(ctx, `INSERT INTO buildset_properties (buildsetid, property_name, property_value)
VALUES (?, 'bare', '"not a pair"')`, fx.request(t, brid).buildsetID); err != nil {
			t.Fatal(err)
		}
		sim := fx.startSim(t, Options{})
		waitFor(t, 10*time.Second, "an error report", func() bool { return len(sim.Errors()) > 0 })
		time.Sleep(500 * time.Millisecond)
		if errs := sim.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "bare") {
			t.Errorf("Errors() = %v, want one naming the property", errs)
		}
		if r := fx.request(t, brid); r.complete != 0 || r.claimedAt != 0 || len(sim.Builds()) != 0 {
			t.Errorf("request %+v, builds %v: want it left pending and unbuilt", r, sim.Builds())
		}
	})
}
