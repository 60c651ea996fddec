package faults

import (
	"strings"
	"testing"
	"time"
)

func TestTableMarksViolations(t *testing.T) {
	rep := &Report{Started: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Rows: []Row{
		{Fault: "worker-sigkill", Tasks: 300, Duration: 95 * time.Second, Notes: []string{"worker SIGKILLed with 120 builds running"}},
		{Fault: "tc-flaky", Tasks: 300, Expired: 2, Problems: []string{"expired: task abc"}, LogDir: "/tmp/x/tc-flaky"},
	}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"worker-sigkill", "ok", "VIOLATED", "expired: task abc", "logs: /tmp/x/tc-flaky", "INVARIANTS VIOLATED"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if rep.OK() {
		t.Error("a report with an expired claim is OK")
	}
	rep.Rows = rep.Rows[:1]
	if !rep.OK() {
		t.Error("a clean report is not OK")
	}
}

func TestSelectQuickSubsetAndNames(t *testing.T) {
	quick, err := Select(Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := Select(Options{})
	if len(all) != 12 || len(quick) == 0 || len(quick) >= len(all) {
		t.Errorf("%d faults, %d quick; want 12 and a proper subset", len(all), len(quick))
	}
	if _, err := Select(Options{Faults: []string{"worker-sigkill", "nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown fault name is not refused clearly: %v", err)
	}
}
