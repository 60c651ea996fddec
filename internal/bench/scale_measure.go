package bench

import (
	"fmt"
	"sort"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// ScaleResult is one scale run.
type ScaleResult struct {
	Builds       int
	ClaimTimeout time.Duration
	Periods      int
	FinishRate   float64
	// ReclaimLead is reclaim.lead_seconds as configured.
	ReclaimLead time.Duration
	Prefill     int
	SQLite      bool
	PrefillTime time.Duration
	// Temporal names the Temporal server (persistence, shards,
	// partitions).
	Temporal string

	// PeakTC and PeakBuildbot are the most runs running in the stand-in
	// queue and builds running on the masters, sampled; HoldMin* the
	// fewest during the hold.
	PeakTC, PeakBuildbot       int
	HoldMinTC, HoldMinBuildbot int
	// ToAllRunning is from the first createTask to the last build start
	// or claim; Hold from then to the finish; Finish from the finish to
	// the last resolution; Wall all of it.
	ToAllRunning, Hold, Finish, Wall time.Duration

	// Reclaims are all reclaims of the run; HoldReclaims those of the hold,
	// when every build runs and nothing else happens.
	Reclaims, HoldReclaims reclaimSummary
	Steady                 steadyFigures
	// OtherCallsPerTask are the bridge's TC calls per task that are not
	// reclaims (status, task, claim, artifacts, resolution).
	OtherCallsPerTask float64
	// ClaimExpired counts runs resolved exception/claim-expired.
	ClaimExpired int

	// CPU per phase and in all, peak RSS as of each phase's end.
	RampCPU, HoldCPU, FinishCPU, Total procSnapshot
	TemporalSeparate                   bool
	// PersistenceSeparate says the snapshots' persistence figures are
	// a database server's of its own (PostgreSQL).
	PersistenceSeparate bool

	HistoryMean float64
	HistoryMax  int
	// Actions are Temporal Cloud's billable Actions of all the tasks'
	// histories, with what their reclaims cost.
	Actions Actions

	Outcome
}

// reclaimObs is one successful reclaim, against the claim or reclaim
// before it on the same run.
type reclaimObs struct {
	at time.Time
	// lead is how long before the takenUntil it renews the reclaim came.
	lead time.Duration
	// late is how long after the bridge's schedule (takenUntil −
	// min(reclaim lead, claim period / 3)) it came.
	late time.Duration
	// interval is the time since the previous claim or reclaim.
	interval time.Duration
	// refused is a reclaim the queue did not answer 2xx.
	refused bool
}

// runKey names one run of one task.
type runKey struct {
	task string
	run  int
}

// reclaimObservations reads the stand-in queue's call log. A reclaim
// answered 2xx at time t set takenUntil to t + claimTimeout (the queue's own
// clock; a reclaim publishes nothing, so the log's time is taken right
// after the answer). A claim's log time comes after its task-running
// message is published, so the run's start (the claim's "now", from the
// queue's status) is used where claimedAt has it. refused counts reclaims
// not answered 2xx.
func reclaimObservations(calls []tcfake.Call, claimedAt map[runKey]time.Time, claimTimeout, reclaimLead time.Duration) (obs []reclaimObs, refused int) {
	scheduledLead := min(reclaimLead, claimTimeout/3)
	last := map[runKey]time.Time{}
	sorted := append([]tcfake.Call(nil), calls...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	for _, c := range sorted {
		if c.Method != "claimTask" && c.Method != "reclaimTask" {
			continue
		}
		ok := c.Status >= 200 && c.Status < 300
		k := runKey{c.TaskID, c.RunID}
		prev, seen := last[k]
		if c.Method == "reclaimTask" && !ok {
			// Refused (a 409 after the claim expired): its lead, negative,
			// and lateness still count; takenUntil stays.
			refused++
			if seen {
				takenUntil := prev.Add(claimTimeout)
				obs = append(obs, reclaimObs{at: c.At, lead: takenUntil.Sub(c.At),
					late: c.At.Sub(takenUntil.Add(-scheduledLead)), interval: c.At.Sub(prev), refused: true})
			}
			continue
		}
		if !ok {
			continue
		}
		if c.Method == "claimTask" {
			// A repeated claim of a running run leaves takenUntil as it is.
			if !seen {
				if t, ok := claimedAt[k]; ok {
					last[k] = t
				} else {
					last[k] = c.At
				}
			}
			continue
		}
		if seen {
			takenUntil := prev.Add(claimTimeout)
			obs = append(obs, reclaimObs{
				at:       c.At,
				lead:     takenUntil.Sub(c.At),
				late:     c.At.Sub(takenUntil.Add(-scheduledLead)),
				interval: c.At.Sub(prev),
			})
		}
		last[k] = c.At
	}
	return obs, refused
}

// claimTimes are the runs' start times in the stand-in queue: when each
// was claimed, by the queue's clock.
func claimTimes(q *tcfake.Queue, ids []string) map[runKey]time.Time {
	out := map[runKey]time.Time{}
	for _, id := range ids {
		st, _ := q.Status(id)
		for _, r := range st.Runs {
			if t := time.Time(r.Started); !t.IsZero() {
				out[runKey{id, int(r.RunID)}] = t
			}
		}
	}
	return out
}

// reclaimSummary is the reclaims in one window, refused ones included
// (their lead is negative when the claim had expired).
type reclaimSummary struct {
	N, Refused              int
	Leads, Lates, Intervals []time.Duration
}

func summarize(obs []reclaimObs, from, to time.Time) reclaimSummary {
	var s reclaimSummary
	for _, o := range obs {
		if o.at.Before(from) || o.at.After(to) {
			continue
		}
		s.N++
		if o.refused {
			s.Refused++
		}
		s.Leads = append(s.Leads, o.lead)
		s.Lates = append(s.Lates, o.late)
		s.Intervals = append(s.Intervals, o.interval)
	}
	return s
}

func minDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return percentile(ds, 0)
}

func meanDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// steadyFigures are the bridge's TC calls while every build runs.
type steadyFigures struct {
	Window   time.Duration
	Reclaims int
	Calls    int // every call but the scheduler's createTask
	Builds   int
}

// ReclaimsPerSecond is successful reclaims per second in the window.
func (s steadyFigures) ReclaimsPerSecond() float64 {
	return ratio(float64(s.Reclaims), s.Window.Seconds())
}

func steadyCalls(calls []tcfake.Call, from, to time.Time, builds int) steadyFigures {
	s := steadyFigures{Window: to.Sub(from), Builds: builds}
	for _, c := range calls {
		if c.At.Before(from) || c.At.After(to) || c.Method == "createTask" {
			continue
		}
		s.Calls++
		if c.Method == "reclaimTask" && c.Status >= 200 && c.Status < 300 {
			s.Reclaims++
		}
	}
	return s
}

// projectedCallsPerHour is the TC calls per running task-hour at claim
// timeout claim: while a build runs the bridge only reclaims, once per
// claim − min(lead, claim/3) + lateness (the schedule, plus how late the
// reclaims come behind it).
func projectedCallsPerHour(claim, lead, lateness time.Duration) float64 {
	interval := claim - min(lead, claim/3) + lateness
	return ratio(float64(time.Hour), float64(interval))
}

// checkScaleOutcome checks what a user would: every task completed once,
// on its first run, with one build, and no claim expired.
func (d *deployment) checkScaleOutcome(res *ScaleResult, st *stack, ids []string, calls []tcfake.Call) {
	completed := map[string]int{}
	other := 0
	for _, c := range calls {
		if c.Method != "createTask" && c.Method != "reclaimTask" {
			other++
		}
		if c.Method == "reportCompleted" && c.Status < 300 {
			completed[c.TaskID]++
		}
	}
	res.OtherCallsPerTask = ratio(float64(other), float64(len(ids)))
	for _, id := range ids {
		s, _ := st.Queue.Status(id)
		for _, r := range s.Runs {
			if r.ReasonResolved == "claim-expired" {
				res.ClaimExpired++
			}
		}
		switch {
		case len(s.Runs) != 1 || s.Runs[0].State != "completed":
			res.Problems = append(res.Problems, fmt.Sprintf("task %s: runs %+v, want one completed run", id, s.Runs))
		case completed[id] != 1:
			res.Problems = append(res.Problems, fmt.Sprintf("task %s: %d reportCompleted calls, want 1", id, completed[id]))
		}
	}
	builds := st.Sim.Builds()
	succeeded := 0
	for _, b := range builds {
		if b.Result == bbsim.SUCCESS {
			succeeded++
		}
	}
	if len(builds) != len(ids) || succeeded != len(ids) {
		res.Problems = append(res.Problems, fmt.Sprintf("%d builds ran (%d succeeded), want one successful build per task (%d)",
			len(builds), succeeded, len(ids)))
	}
	if res.ClaimExpired > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d runs expired (claim-expired)", res.ClaimExpired))
	}
	if res.Reclaims.Refused > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d reclaims refused", res.Reclaims.Refused))
	}
	if res.HoldMinTC != res.Builds || res.HoldMinBuildbot != res.Builds {
		res.Problems = append(res.Problems, fmt.Sprintf("during the hold as few as %d runs were running in TC and %d builds in Buildbot, want %d",
			res.HoldMinTC, res.HoldMinBuildbot, res.Builds))
	}
}
