package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// scheduledLead is the lead the bridge aims at for a claim period.
func (r *ScaleResult) scheduledLead(claim time.Duration) time.Duration {
	return min(r.ReclaimLead, claim/3)
}

// Projection20 is the TC calls per running task-hour at the real claim
// timeout, from its schedule plus the mean lateness measured in the hold.
func (r *ScaleResult) Projection20() float64 {
	return projectedCallsPerHour(RealClaimTimeout, r.ReclaimLead, meanDur(r.HoldReclaims.Lates))
}

// MeasuredCallsPerHour is the TC calls per running task-hour in the hold:
// one reclaim per mean interval, times all calls over reclaims (1 when the
// bridge calls nothing else while the builds run). Counting calls in the
// window instead would depend on where the window cuts the reclaim cycle.
func (r *ScaleResult) MeasuredCallsPerHour() float64 {
	perReclaim := ratio(float64(r.Steady.Calls), float64(r.Steady.Reclaims))
	return ratio(float64(time.Hour), float64(meanDur(r.HoldReclaims.Intervals))) * perReclaim
}

// WriteTable prints the scale run as one table, the targets beside
// the figures, and the formula of the projection under it.
func (r *ScaleResult) WriteTable(w io.Writer) error {
	ct := r.ClaimTimeout
	fmt.Fprintf(w, "bbb-bench -scale: %d builds held open, stand-in claim timeout %s (real queue: %s), held %d claim periods after the last start, %s\n",
		r.Builds, ct, RealClaimTimeout, r.Periods, ranOn(r.SQLite, r.Prefill, r.PrefillTime, r.Temporal))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value, target string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", name, value, target) }
	row("metric", "measured", "target / schedule")
	row("------", "--------", "-----------------")
	n := r.Builds
	row("builds running concurrently (peak: TC runs / Buildbot builds)", fmt.Sprintf("%d / %d", r.PeakTC, r.PeakBuildbot),
		verdict(r.PeakTC == n && r.PeakBuildbot == n, fmt.Sprintf("%d", n)))
	row(fmt.Sprintf("time to reach %d running (first createTask → last start)", n), r.ToAllRunning.Round(100*time.Millisecond).String(), "")
	row("hold with all running (fewest running during it: TC / Buildbot)",
		fmt.Sprintf("%s = %.2f claim periods (%d / %d)", r.Hold.Round(time.Second), ratio(r.Hold.Seconds(), ct.Seconds()), r.HoldMinTC, r.HoldMinBuildbot),
		verdict(r.Hold >= time.Duration(r.Periods)*ct && r.HoldMinTC == n && r.HoldMinBuildbot == n, fmt.Sprintf("≥ %d periods, all running", r.Periods)))
	lead := r.scheduledLead(ct)
	interval := meanDur(r.HoldReclaims.Intervals)
	row("reclaims/s in the hold: counted ÷ window (builds ÷ mean interval)",
		fmt.Sprintf("%.1f (%.1f)", r.Steady.ReclaimsPerSecond(), ratio(float64(n), interval.Seconds())),
		fmt.Sprintf("schedule %d ÷ (%s − %s) = %.1f", n, ct, lead, ratio(float64(n), (ct-lead).Seconds())))
	row("reclaims in the run (refused: came after takenUntil)", fmt.Sprintf("%d (%d)", r.Reclaims.N, r.Reclaims.Refused), verdict(r.Reclaims.Refused == 0, "0 refused"))
	row("reclaim lead before takenUntil: min / p1 / p50 (whole run)",
		fmt.Sprintf("%s / %s / %s", fmtDur(minDur(r.Reclaims.Leads)), fmtDur(percentile(r.Reclaims.Leads, 1)), fmtDur(percentile(r.Reclaims.Leads, 50))),
		verdict(r.Reclaims.N > 0 && minDur(r.Reclaims.Leads) >= ct/4, fmt.Sprintf("≥ ¼ claim timeout = %s", ct/4)))
	row("reclaim lateness behind schedule: p50 / p99 / max (hold)", latenessCells(r.HoldReclaims.Lates),
		fmt.Sprintf("schedule: takenUntil − min(%s, claim period/3) = takenUntil − %s", r.ReclaimLead, lead))
	row("reclaim lateness behind schedule: p50 / p99 / max (whole run)", latenessCells(r.Reclaims.Lates), "")
	row("reclaim interval ÷ claim period (hold, mean)", fmt.Sprintf("%.3f", ratio(meanDur(r.HoldReclaims.Intervals).Seconds(), ct.Seconds())),
		fmt.Sprintf("schedule %.3f", ratio((ct-lead).Seconds(), ct.Seconds())))
	row("claim-expired runs", fmt.Sprintf("%d", r.ClaimExpired), verdict(r.ClaimExpired == 0, "0"))
	row(fmt.Sprintf("TC calls per running task-hour at %s (hold: 3600 s ÷ mean interval × calls per reclaim)", ct),
		fmt.Sprintf("%.1f (%.2f calls per reclaim)", r.MeasuredCallsPerHour(), ratio(float64(r.Steady.Calls), float64(r.Steady.Reclaims))),
		fmt.Sprintf("schedule %.1f", projectedCallsPerHour(ct, r.ReclaimLead, 0)))
	p20 := r.Projection20()
	row(fmt.Sprintf("TC calls per running task-hour at %s (projected, formula below)", RealClaimTimeout), fmt.Sprintf("%.3f", p20), verdict(p20 <= 4, "≤ 4"))
	lead20 := r.scheduledLead(RealClaimTimeout) - percentile(r.HoldReclaims.Lates, 100)
	row(fmt.Sprintf("reclaim lead at %s (projected: %s − max lateness of the hold)", RealClaimTimeout, r.scheduledLead(RealClaimTimeout)),
		fmt.Sprintf("%s = %.4f × claim timeout", fmtDur(lead20), ratio(lead20.Seconds(), RealClaimTimeout.Seconds())),
		verdict(lead20 >= RealClaimTimeout/4, fmt.Sprintf("≥ ¼ = %s", RealClaimTimeout/4)))
	row("history events: longest workflow (mean)", fmt.Sprintf("%d (%.1f)", r.HistoryMax, r.HistoryMean), "")
	actionsPerReclaim := r.Actions.PerReclaim()
	row("Temporal Cloud actions per reclaim (mean, from the histories)",
		fmt.Sprintf("%.2f (%d reclaims)", actionsPerReclaim, r.Actions.Reclaims), verdict(r.Actions.Reclaims > 0 && actionsPerReclaim <= 2, "≤ 2"))
	reclaimsPerHour := time.Hour.Seconds() / (RealClaimTimeout - r.scheduledLead(RealClaimTimeout)).Seconds()
	row(fmt.Sprintf("Temporal Cloud actions per running task-hour at %s (Buildbot 0.8: %.0f reclaims an hour)", RealClaimTimeout, reclaimsPerHour),
		fmt.Sprintf("%.1f", actionsPerReclaim*reclaimsPerHour), "")
	proc := func(name string, total, ramp, hold, finish localdeploy.ProcStats) {
		row(name+" peak RSS / CPU (ramp + hold + finish)",
			fmt.Sprintf("%s / %.1f s (%.1f + %.1f + %.1f)", mib(total.PeakRSSBytes), total.CPU.Seconds(), ramp.CPU.Seconds(), hold.CPU.Seconds(), finish.CPU.Seconds()), "")
	}
	proc("worker", r.Total.worker, r.RampCPU.worker, r.HoldCPU.worker, r.FinishCPU.worker)
	proc("starter", r.Total.starter, r.RampCPU.starter, r.HoldCPU.starter, r.FinishCPU.starter)
	benchName := "stand-ins + measuring (this process)"
	if r.TemporalSeparate {
		proc("Temporal server (own process)", r.Total.temporal, r.RampCPU.temporal, r.HoldCPU.temporal, r.FinishCPU.temporal)
	} else {
		benchName = "Temporal server + stand-ins + measuring (this process)"
	}
	proc(benchName, r.Total.bench, r.RampCPU.bench, r.HoldCPU.bench, r.FinishCPU.bench)
	if r.PersistenceSeparate {
		row("PostgreSQL (Temporal's persistence, all its processes) CPU (ramp + hold + finish)",
			fmt.Sprintf("%.1f s (%.1f + %.1f + %.1f)", r.Total.persistence.CPU.Seconds(), r.RampCPU.persistence.CPU.Seconds(),
				r.HoldCPU.persistence.CPU.Seconds(), r.FinishCPU.persistence.CPU.Seconds()), "")
	}
	perReclaim := func(p localdeploy.ProcStats) float64 {
		return ratio(float64(p.CPU.Microseconds())/1000, float64(r.HoldReclaims.N))
	}
	name, parts := "CPU per reclaim in the hold: worker + this process (Temporal server, stand-ins)",
		fmt.Sprintf("%.1f + %.1f", perReclaim(r.HoldCPU.worker), perReclaim(r.HoldCPU.bench))
	if r.TemporalSeparate {
		name, parts = "CPU per reclaim in the hold: worker + Temporal server + this process",
			fmt.Sprintf("%.1f + %.1f + %.1f", perReclaim(r.HoldCPU.worker), perReclaim(r.HoldCPU.temporal), perReclaim(r.HoldCPU.bench))
	}
	if r.PersistenceSeparate {
		name += " + PostgreSQL"
		parts += fmt.Sprintf(" + %.1f", perReclaim(r.HoldCPU.persistence))
	}
	row(name, parts+" ms", "")
	finish := "all at once"
	if r.FinishRate > 0 {
		finish = fmt.Sprintf("%.0f/s", r.FinishRate)
	}
	row(fmt.Sprintf("finish (builds finished %s) → last task resolved", finish), r.Finish.Round(100*time.Millisecond).String(), "")
	row("wall time (first createTask → last resolved)", r.Wall.Round(time.Second).String(), "")
	status := fmt.Sprintf("every task completed once on its first run, %d claim expiries", r.ClaimExpired)
	if len(r.Problems) > 0 {
		status = fmt.Sprintf("%d PROBLEMS", len(r.Problems))
	}
	row("result", status, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	late := meanDur(r.HoldReclaims.Lates)
	fmt.Fprintf(w, "projection: TC calls per running task-hour at %s = 3600 s ÷ (claim %s − min(lead %s, claim/3) + mean lateness of the hold %s) = 3600 ÷ %.2f = %.3f\n",
		RealClaimTimeout, RealClaimTimeout, r.ReclaimLead, fmtDur(late),
		(RealClaimTimeout - r.scheduledLead(RealClaimTimeout) + late).Seconds(), p20)
	fmt.Fprintf(w, "  (while a build runs the bridge's only TC call is the reclaim; the rest of a lifecycle, %.1f calls per task in this run, comes once per task, not per hour)\n", r.OtherCallsPerTask)
	r.writeProblems(w)
	return nil
}

func latenessCells(ds []time.Duration) string {
	return fmt.Sprintf("%s / %s / %s", fmtDur(percentile(ds, 50)), fmtDur(percentile(ds, 99)), fmtDur(percentile(ds, 100)))
}
