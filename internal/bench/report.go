package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// WriteTable prints the run as one table: each figure, and the issue's
// target beside it where it has one.
func (r *Result) WriteTable(w io.Writer) error {
	load := "all at once"
	if r.Rate > 0 {
		load = fmt.Sprintf("%.0f/s", r.Rate)
	}
	fmt.Fprintf(w, "bbb-bench: %d tasks (created %s), %s\n", r.Tasks, load, ranOn(r.SQLite, r.Prefill, r.PrefillTime, r.Temporal))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value, target string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", name, value, target) }
	row("metric", "bridge", "target / floor")
	row("------", "------", "--------------")
	lifeTarget := verdict(r.Lifecycles >= 50, "≥ 50")
	if r.Rate > 0 {
		// A paced run measures latency at that load, not capacity.
		lifeTarget = fmt.Sprintf("offered %.0f/s (capacity: -rate 0)", r.Rate)
	}
	row("lifecycles/s (sustained, after 10% warm-up)", fmt.Sprintf("%.1f", r.Lifecycles), lifeTarget)
	row("BuildRequests/s (sustained)", fmt.Sprintf("%.1f", r.BRRate),
		fmt.Sprintf("floor %.1f (bridge = %.2f× floor)", r.Floor.BRRate, ratio(r.BRRate, r.Floor.BRRate)))
	fp99 := percentile(r.Floor.PendingToBR, 99)
	row("pending→BuildRequest p50/p95/p99", durs(r.PendingToBR, 50, 95, 99),
		fmt.Sprintf("floor %s", durs(r.Floor.PendingToBR, 50, 95, 99)))
	p99 := percentile(r.PendingToBR, 99)
	row("pending→BuildRequest p99 ÷ floor p99", fmt.Sprintf("%.2f×", ratio(float64(p99), float64(fp99))),
		verdict(fp99 > 0 && p99 <= 3*fp99, "≤ 3×"))
	row("log_uploaded→resolved p50/p99", durs(r.LogToResolved, 50, 99), "")
	row("history events per task (mean/max)", fmt.Sprintf("%.1f / %d", r.HistoryMean, r.HistoryMax), verdict(r.HistoryMean <= 30, "mean ≤ 30"))
	if r.Tasks > 0 {
		a := r.Actions
		per := func(n int) float64 { return float64(n) / float64(r.Tasks) }
		mean := a.PerTask(r.Tasks)
		row("Temporal Cloud actions per lifecycle (mean)", fmt.Sprintf("%.1f = %.1f start + %.1f other signals + %.1f timers + %.1f upserts + %.1f local-activity workflow tasks",
			mean, per(a.WorkflowStarts), per(a.Signals), per(a.Timers), per(a.Upserts), per(a.LocalActivityWTs)),
			verdict(mean <= ActionsTarget, fmt.Sprintf("≤ %d", ActionsTarget)))
	}
	row("TC calls per task", fmt.Sprintf("%.1f", r.TCCalls), "floor 2 (status + task)")
	if r.SQLite {
		row("scheduler DB statements per task", "n/a (SQLite)", "")
	} else {
		n := float64(r.Tasks)
		row("scheduler DB statements per task (round trips)",
			fmt.Sprintf("%.1f (%.1f)", float64(r.BridgeSQL.Statements)/n, float64(r.BridgeSQL.RoundTrips)/n),
			fmt.Sprintf("floor %.1f (%.1f)", float64(r.Floor.SQL.Statements)/n, float64(r.Floor.SQL.RoundTrips)/n))
	}
	row("worker peak RSS / CPU", fmt.Sprintf("%s / %.1f s", mib(r.Worker.PeakRSSBytes), r.Worker.CPU.Seconds()), "")
	row("starter peak RSS / CPU", fmt.Sprintf("%s / %.1f s", mib(r.Starter.PeakRSSBytes), r.Starter.CPU.Seconds()), "")
	row("Temporal server + stand-ins CPU (this process)", fmt.Sprintf("%.1f s", r.BenchCPU.Seconds()), "")
	perTask := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(r.Tasks) }
	total := perTask(r.Worker.CPU) + perTask(r.Starter.CPU) + perTask(r.BenchCPU)
	cpuName := "CPU per lifecycle: worker + starter + server/stand-ins"
	cpuParts := fmt.Sprintf("%.0f + %.0f + %.0f", perTask(r.Worker.CPU), perTask(r.Starter.CPU), perTask(r.BenchCPU))
	if r.PersistenceMeasured {
		// Out of this process, unlike SQLite: without it the two
		// persistences' CPU would not compare.
		row("PostgreSQL CPU (Temporal's persistence, all its processes)", fmt.Sprintf("%.1f s", r.PersistenceCPU.Seconds()), "")
		total += perTask(r.PersistenceCPU)
		cpuName += " + PostgreSQL"
		cpuParts += fmt.Sprintf(" + %.0f", perTask(r.PersistenceCPU))
	}
	row(cpuName, fmt.Sprintf("%s = %.0f ms", cpuParts, total),
		fmt.Sprintf("≈ %.0f lifecycles/s if %d idle cores were all theirs", ratio(1000*float64(runtime.NumCPU()), total), runtime.NumCPU()))
	row("tasks created/s (stand-in queue)", fmt.Sprintf("%.1f", ratio(float64(r.Tasks), r.Creation.Seconds())), "")
	row("wall time (create → last resolved)", r.Wall.Round(100*time.Millisecond).String(), "")
	status := "all tasks resolved as expected"
	if len(r.Problems) > 0 {
		status = fmt.Sprintf("%d PROBLEMS", len(r.Problems))
	}
	row("result", status, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	r.writeProblems(w)
	return nil
}

// Outcome is how a run went: what went wrong, and where the logs were
// kept because of it.
type Outcome struct {
	// Problems are tasks not resolved, or resolved wrongly; empty on a
	// good run.
	Problems []string
	LogDir   string
}

// OK reports a run without problems.
func (o Outcome) OK() bool { return len(o.Problems) == 0 }

func (o *Outcome) outcome() *Outcome { return o }

// writeProblems lists the first ten problems under the table.
func (o Outcome) writeProblems(w io.Writer) {
	for i, p := range o.Problems {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more\n", len(o.Problems)-10)
			break
		}
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	if o.LogDir != "" {
		fmt.Fprintf(w, "  worker and starter logs: %s\n", o.LogDir)
	}
}

// ranOn says what a table's figures were taken on, for its header.
func ranOn(sqlite bool, prefill int, took time.Duration, temporal string) string {
	db := "MariaDB"
	if sqlite {
		db = "SQLite"
	}
	if temporal != "" {
		temporal += ", "
	}
	return fmt.Sprintf("%s scheduler DB prefilled with %d BuildRequests (%s), %s%s",
		db, prefill, took.Round(time.Second), temporal, localdeploy.Machine(time.Now().UTC()))
}

func verdict(ok bool, target string) string {
	if ok {
		return target + ": met"
	}
	return target + ": MISSED"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func durs(ds []time.Duration, ps ...float64) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmtDur(percentile(ds, p))
	}
	return strings.Join(out, " / ")
}

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
