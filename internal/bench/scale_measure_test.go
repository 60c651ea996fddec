package bench

import (
	"math"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// A run claimed at t0 with a 120 s claim is due for reclaim 40 s before
// takenUntil; the lead and lateness come from the call log alone.
func TestReclaimObservationsFromTheCallLog(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	calls := []tcfake.Call{
		{Method: "createTask", TaskID: "A", RunID: -1, Status: 200, At: at(-5)},
		// Logged after its message was published: the run's start counts.
		{Method: "claimTask", TaskID: "A", RunID: 0, Status: 200, At: at(0.3)},
		{Method: "claimTask", TaskID: "A", RunID: 0, Status: 200, At: at(1)},       // repeated: changes nothing
		{Method: "reclaimTask", TaskID: "A", RunID: 0, Status: 200, At: at(80)},    // on schedule
		{Method: "reclaimTask", TaskID: "A", RunID: 0, Status: 200, At: at(162.5)}, // 2.5 s late
		// Another task's run, logged out of order: sorted by time first.
		{Method: "reclaimTask", TaskID: "B", RunID: 1, Status: 200, At: at(85)},
		{Method: "claimTask", TaskID: "B", RunID: 1, Status: 200, At: at(10)},
		{Method: "reclaimTask", TaskID: "B", RunID: 1, Status: 409, At: at(210)},
		// A failed claim is no claim.
		{Method: "claimTask", TaskID: "C", RunID: 0, Status: 500, At: at(0)},
		{Method: "reclaimTask", TaskID: "C", RunID: 0, Status: 200, At: at(70)},
	}
	started := map[runKey]time.Time{{"A", 0}: at(0)}
	obs, refused := reclaimObservations(calls, started, 120*time.Second, 300*time.Second)
	if refused != 1 {
		t.Errorf("refused = %d, want 1 (the 409)", refused)
	}
	want := []reclaimObs{
		{at: at(80), lead: 40 * time.Second, late: 0, interval: 80 * time.Second},
		{at: at(85), lead: 45 * time.Second, late: -5 * time.Second, interval: 75 * time.Second},
		{at: at(162.5), lead: 37500 * time.Millisecond, late: 2500 * time.Millisecond, interval: 82500 * time.Millisecond},
		// 5 s after takenUntil (85 + 120 s): refused, 45 s late.
		{at: at(210), lead: -5 * time.Second, late: 45 * time.Second, interval: 125 * time.Second, refused: true},
	}
	if len(obs) != len(want) {
		t.Fatalf("observations = %+v, want %+v", obs, want)
	}
	for i := range want {
		if obs[i] != want[i] {
			t.Errorf("observation %d = %+v, want %+v", i, obs[i], want[i])
		}
	}
	s := summarize(obs, at(81), at(200))
	if s.N != 2 || minDur(s.Leads) != 37500*time.Millisecond || meanDur(s.Lates) != -1250*time.Millisecond {
		t.Errorf("summary of the window from 81 s = %+v", s)
	}
}

// At the real 20-minute claim the bridge reclaims 300 s ahead (the lead
// is less than a third of the period), so every 900 s: 4 calls an hour,
// fewer when reclaims come late.
func TestProjectedCallsPerHour(t *testing.T) {
	for _, c := range []struct {
		claim, lead, late time.Duration
		want              float64
	}{
		{20 * time.Minute, 300 * time.Second, 0, 4},
		{20 * time.Minute, 300 * time.Second, 900 * time.Second, 2},
		{120 * time.Second, 300 * time.Second, 0, 45}, // a third: every 80 s
		{30 * time.Second, 300 * time.Second, 0, 180},
	} {
		if got := projectedCallsPerHour(c.claim, c.lead, c.late); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("projectedCallsPerHour(%s, %s, %s) = %v, want %v", c.claim, c.lead, c.late, got, c.want)
		}
	}
}

func TestSteadyCallsCountTheBridgesCallsInTheWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	calls := []tcfake.Call{
		{Method: "createTask", Status: 200, At: t0.Add(10 * time.Second)},      // the scheduler's
		{Method: "reclaimTask", Status: 200, At: t0.Add(20 * time.Second)},     // counted twice: a call, a reclaim
		{Method: "reclaimTask", Status: 409, At: t0.Add(30 * time.Second)},     // a call, no reclaim
		{Method: "reportCompleted", Status: 200, At: t0.Add(40 * time.Second)}, // a call
		{Method: "reclaimTask", Status: 200, At: t0.Add(2 * time.Hour)},        // outside
	}
	s := steadyCalls(calls, t0, t0.Add(time.Hour), 2)
	if s.Reclaims != 1 || s.Calls != 3 {
		t.Fatalf("steady = %+v, want 1 reclaim and 3 calls", s)
	}
	if got := s.ReclaimsPerSecond(); got != 1.0/3600 {
		t.Errorf("reclaims/s = %v, want 1 an hour", got)
	}
}
