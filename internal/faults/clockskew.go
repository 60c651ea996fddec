package faults

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// clockSkew is the fault of a queue whose clock runs skew ahead of the
// bridge's (behind if negative): its takenUntil, deadlines and claim expiry
// all follow its own clock. Nothing strikes during the run: the skew is
// there from the start. A bridge that measured claims on its own clock
// would let every claim expire with the queue ahead (each claim-expired
// run shows in the table), and with it behind reclaim in a loop, which no
// other invariant sees: checkReclaimCadence does.
func clockSkew(name string, skew time.Duration) Fault {
	way := "ahead of"
	if skew < 0 {
		way = "behind"
	}
	return Fault{
		Name: name, Workers: 1, Starters: 1,
		Summary: fmt.Sprintf("the queue's clock runs %s %s the bridge's (takenUntil, deadlines and claim expiry on its clock)",
			skew.Abs(), way),
		// Every build outlives its first claim period, most their second.
		MinBuild: claimTimeout, MaxBuild: 2 * claimTimeout,
		QueueClock: tcfake.SkewedClock(skew),
		Strike:     func(context.Context, *deployment, time.Duration) error { return nil },
		Check:      checkReclaimCadence,
	}
}

// checkReclaimCadence finds the runs reclaimed far more often than a claim
// period calls for: one reclaim per claim period less its lead (at least
// two thirds of a period) is the schedule; a third is slack for a reclaim
// retried after an error.
func checkReclaimCadence(d *deployment) []string {
	type runKey struct {
		task string
		run  int
	}
	at := map[runKey][]time.Time{}
	for _, c := range d.Queue.Calls() {
		if c.Method == "reclaimTask" && c.Status == 200 {
			k := runKey{c.TaskID, c.RunID}
			at[k] = append(at[k], c.At)
		}
	}
	minGap := d.fault.claim() / 3
	var problems []string
	reclaims, shortest := 0, time.Duration(0)
	for k, times := range at {
		reclaims += len(times)
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		for i := 1; i < len(times); i++ {
			gap := times[i].Sub(times[i-1])
			if shortest == 0 || gap < shortest {
				shortest = gap
			}
			if gap < minGap {
				problems = append(problems, fmt.Sprintf("reclaim loop: run %s/%d reclaimed %s after its previous reclaim (%d reclaims in all), a claim period is %s",
					k.task, k.run, gap.Round(time.Millisecond), len(times), d.fault.claim()))
				break
			}
		}
	}
	d.note("%d reclaims of %d runs; shortest interval between two reclaims of a run %s (claim %s)",
		reclaims, len(at), shortest.Round(100*time.Millisecond), d.fault.claim())
	sort.Strings(problems)
	return problems
}
