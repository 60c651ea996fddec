package faults

import (
	"fmt"
	"strings"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
)

// RunEnd is one Taskcluster run as a check sees it: its state and the reason
// it was resolved with.
type RunEnd struct {
	State, Reason string
}

func (r RunEnd) String() string { return r.State + "/" + r.Reason }

// FormatRuns renders a run list as "exception/worker-shutdown, completed/completed".
func FormatRuns(runs []RunEnd) string {
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// Outcome is what happens to one task in Buildbot and what Taskcluster
// must show for it in the end (the README's lifecycle table).
type Outcome struct {
	Name     string
	Attempts []bbsim.Attempt
	Want     []RunEnd
	// CancelInTC: the task is cancelled in Taskcluster (by the fault), so
	// the bridge must cancel its BuildRequest or build in Buildbot; the
	// request's row must end CANCELLED.
	CancelInTC bool
	// Unserved: no master builds it; it stays a pending request until
	// cancelled.
	Unserved bool
}

var (
	runCompleted = RunEnd{"completed", "completed"}
	runFailed    = RunEnd{"failed", "failed"}
	runMalformed = RunEnd{"exception", "malformed-payload"}
	runRetried   = RunEnd{"exception", "worker-shutdown"}
	runCanceled  = RunEnd{"exception", "canceled"}
)

// resultMix is the round of Buildbot results tasks cycle through: mostly
// successes, and every other result the bridge maps to a resolution.
var resultMix = []struct {
	name    string
	results []int
	want    []RunEnd
}{
	{"success", []int{bbsim.SUCCESS}, []RunEnd{runCompleted}},
	{"failure", []int{bbsim.FAILURE}, []RunEnd{runFailed}},
	{"success", []int{bbsim.SUCCESS}, []RunEnd{runCompleted}},
	{"retry-success", []int{bbsim.RETRY, bbsim.SUCCESS}, []RunEnd{runRetried, runCompleted}},
	{"warnings", []int{bbsim.WARNINGS}, []RunEnd{runFailed}},
	{"success", []int{bbsim.SUCCESS}, []RunEnd{runCompleted}},
	{"exception", []int{bbsim.EXCEPTION}, []RunEnd{runMalformed}},
	{"cancelled", []int{bbsim.CANCELLED}, []RunEnd{runCanceled}},
	{"retry-failure", []int{bbsim.RETRY, bbsim.FAILURE}, []RunEnd{runRetried, runFailed}},
	{"success", []int{bbsim.SUCCESS}, []RunEnd{runCompleted}},
}

// MixedOutcome is task i's outcome: the i-th of the result mix, each build
// lasting between minDur and maxDur (spread evenly, deterministic).
func MixedOutcome(i int, minDur, maxDur time.Duration) Outcome {
	m := resultMix[i%len(resultMix)]
	o := Outcome{Name: m.name, Want: append([]RunEnd(nil), m.want...)}
	for j, r := range m.results {
		o.Attempts = append(o.Attempts, bbsim.Attempt{Result: r, Duration: spread(i*len(m.results)+j, minDur, maxDur)})
	}
	return o
}

// CancelledOutcome is a task the fault cancels in Taskcluster: its build
// (or pending request, if unserved) would never end on its own.
func CancelledOutcome(unserved bool) Outcome {
	name := "cancel-running"
	if unserved {
		name = "cancel-pending"
	}
	return Outcome{
		Name:       name,
		Attempts:   []bbsim.Attempt{{Result: bbsim.SUCCESS, Duration: bbsim.Forever}},
		Want:       []RunEnd{runCanceled},
		CancelInTC: true,
		Unserved:   unserved,
	}
}

// spread maps i onto [lo, hi] with a stride that visits the range evenly.
func spread(i int, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	const steps = 97
	k := (i * 37) % steps
	return lo + (hi-lo)*time.Duration(k)/(steps-1)
}

// EventFault marks task i's builds with one of the Buildbot event faults:
// every event twice with log_uploaded before started, a lost started, a
// lost log_uploaded, or every event twice. Losses apply to the last build
// only: a lost log_uploaded of a RETRY build would hide the retry from
// everyone, Taskcluster included, and change what the task must end with.
func EventFault(i int, o Outcome) (Outcome, string) {
	o.Attempts = append([]bbsim.Attempt(nil), o.Attempts...)
	last := len(o.Attempts) - 1
	var what string
	switch i % 4 {
	case 0:
		what = "duplicated+reordered"
		for j := range o.Attempts {
			o.Attempts[j].DuplicateEvents = true
			o.Attempts[j].LogUploadedBeforeStarted = true
		}
	case 1:
		what = "started lost"
		o.Attempts[last].DropStarted = true
	case 2:
		what = "log_uploaded lost"
		o.Attempts[last].DropLogUploaded = true
	case 3:
		what = "duplicated"
		for j := range o.Attempts {
			o.Attempts[j].DuplicateEvents = true
		}
	}
	return o, what
}

// CheckRuns compares the runs Taskcluster shows with the wanted ones and
// classifies the difference: "" (as wanted), "lost" (the last run never got
// resolved), "expired" (a run ended claim-expired) or "wrong".
func CheckRuns(got, want []RunEnd) string {
	for _, r := range got {
		if r.Reason == "claim-expired" {
			return "expired"
		}
	}
	if len(got) == 0 {
		return "lost"
	}
	if last := got[len(got)-1]; last.State == "pending" || last.State == "running" || last.State == "unscheduled" {
		return "lost"
	}
	if len(got) != len(want) {
		return "wrong"
	}
	for i := range got {
		if got[i] != want[i] {
			return "wrong"
		}
	}
	return ""
}

func (o Outcome) String() string {
	return fmt.Sprintf("%s (want %s)", o.Name, FormatRuns(o.Want))
}
