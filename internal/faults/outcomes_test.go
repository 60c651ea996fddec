package faults

import (
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// Each Buildbot result of the mix must call for the resolution the
// README's lifecycle table gives it.
func TestMixedOutcomeWantsTheLifecycleTable(t *testing.T) {
	want := map[string]string{
		"success":       "completed/completed",
		"failure":       "failed/failed",
		"warnings":      "failed/failed",
		"exception":     "exception/malformed-payload",
		"cancelled":     "exception/canceled",
		"retry-success": "exception/worker-shutdown, completed/completed",
		"retry-failure": "exception/worker-shutdown, failed/failed",
	}
	seen := map[string]bool{}
	for i := range 20 {
		o := MixedOutcome(i, time.Second, 3*time.Second)
		w, ok := want[o.Name]
		if !ok {
			t.Fatalf("task %d: outcome %q not in the table", i, o.Name)
		}
		if got := FormatRuns(o.Want); got != w {
			t.Errorf("%s: want runs %q, table says %q", o.Name, got, w)
		}
		if len(o.Attempts) != len(o.Want) {
			t.Errorf("%s: %d builds for %d runs", o.Name, len(o.Attempts), len(o.Want))
		}
		for _, a := range o.Attempts {
			if a.Duration < time.Second || a.Duration > 3*time.Second {
				t.Errorf("%s: build of %s outside [1s, 3s]", o.Name, a.Duration)
			}
		}
		seen[o.Name] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("the mix never produces %s", name)
		}
	}
}

func TestCheckRunsClassifies(t *testing.T) {
	done := []RunEnd{runRetried, runCompleted}
	cases := []struct {
		name      string
		got, want []RunEnd
		class     string
	}{
		{"as wanted", done, done, ""},
		{"no run at all", nil, done, "lost"},
		{"still pending after the retry", []RunEnd{runRetried, {"pending", ""}}, done, "lost"},
		{"still running", []RunEnd{{"running", ""}}, []RunEnd{runCompleted}, "lost"},
		{"claim expired, then completed", []RunEnd{{"exception", "claim-expired"}, runCompleted}, []RunEnd{runCompleted}, "expired"},
		{"failed instead of completed", []RunEnd{runFailed}, []RunEnd{runCompleted}, "wrong"},
		{"retry not rerun", []RunEnd{runRetried}, done, "wrong"},
		{"an extra run", []RunEnd{runRetried, runRetried, runCompleted}, done, "wrong"},
	}
	for _, c := range cases {
		if got := CheckRuns(c.got, c.want); got != c.class {
			t.Errorf("%s: CheckRuns = %q, want %q", c.name, got, c.class)
		}
	}
}

func TestSettledWaitsForEveryWantedRun(t *testing.T) {
	want := []RunEnd{runRetried, runCompleted}
	if settled([]RunEnd{runRetried}, want) {
		t.Error("a retried task with its rerun not created yet counts as settled")
	}
	if settled([]RunEnd{runRetried, {"running", ""}}, want) {
		t.Error("a running run counts as settled")
	}
	if !settled([]RunEnd{runRetried, runFailed}, want) {
		t.Error("a task resolved wrongly never settles, so the run would wait for nothing")
	}
}

// Losses apply to the last build only; duplication to every build.
func TestEventFaultKeepsTheRetryVisible(t *testing.T) {
	retry := MixedOutcome(3, time.Second, time.Second) // retry-success
	if retry.Name != "retry-success" {
		t.Fatalf("mix changed: task 3 is %s", retry.Name)
	}
	kinds := map[string]bool{}
	for i := range 4 {
		o, what := EventFault(i, retry)
		kinds[what] = true
		first, last := o.Attempts[0], o.Attempts[1]
		if first.DropStarted || first.DropLogUploaded {
			t.Errorf("%s: the RETRY build loses an event", what)
		}
		if what == "log_uploaded lost" && !last.DropLogUploaded {
			t.Errorf("%s: the last build keeps its log_uploaded", what)
		}
		if what == "started lost" && !last.DropStarted {
			t.Errorf("%s: the last build keeps its started", what)
		}
		if what == "duplicated+reordered" && !(first.DuplicateEvents && last.LogUploadedBeforeStarted) {
			t.Errorf("%s: not every build duplicated and reordered: %+v", what, o.Attempts)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("event faults used: %v, want 4 kinds", kinds)
	}
	if retry.Attempts[1].DropStarted || retry.Attempts[1].DuplicateEvents {
		t.Error("EventFault changed the outcome it was given")
	}
}

func TestCancelledOutcomeNeverEndsByItself(t *testing.T) {
	for _, unserved := range []bool{false, true} {
		o := CancelledOutcome(unserved)
		if o.Attempts[0].Duration != bbsim.Forever || !o.CancelInTC || o.Unserved != unserved {
			t.Errorf("CancelledOutcome(%v) = %+v", unserved, o)
		}
		if FormatRuns(o.Want) != "exception/canceled" {
			t.Errorf("CancelledOutcome wants %s", FormatRuns(o.Want))
		}
	}
}
