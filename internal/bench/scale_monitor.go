package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// runningMonitor counts, every sampleInterval, the tasks whose latest run
// is running in the stand-in queue and the builds running on the simulated
// masters: the two sides of "a running build".
type runningMonitor struct {
	q   *tcfake.Queue
	sim *bbsim.Sim
	ids []string

	peakTC, peakBB int
	// During the hold, the fewest seen; -1 before the hold.
	minTC, minBB int
}

func newRunningMonitor(q *tcfake.Queue, sim *bbsim.Sim) *runningMonitor {
	return &runningMonitor{q: q, sim: sim, minTC: -1, minBB: -1}
}

// sample counts both sides and the time the last of them started running:
// the latest claimTask answered 2xx, the latest build start.
func (m *runningMonitor) sample() (tc, bb int, lastStart time.Time) {
	for _, id := range m.ids {
		st, ok := m.q.Status(id)
		if !ok || len(st.Runs) == 0 {
			continue
		}
		r := st.Runs[len(st.Runs)-1]
		if r.State == "running" {
			tc++
			lastStart = later(lastStart, time.Time(r.Started))
		}
	}
	for _, b := range m.sim.Builds() {
		if !b.Started.IsZero() && b.Finished.IsZero() {
			bb++
			lastStart = later(lastStart, b.Started)
		}
	}
	m.peakTC, m.peakBB = max(m.peakTC, tc), max(m.peakBB, bb)
	return tc, bb, lastStart
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// waitAll waits until every task's build runs in Buildbot and its run is
// claimed in TC, and returns when the last of them started.
func (m *runningMonitor) waitAll(ctx context.Context, deadline time.Time, errc <-chan error, log *slog.Logger) (time.Time, error) {
	lastLog := time.Now()
	for {
		tc, bb, last := m.sample()
		if tc == len(m.ids) && bb == len(m.ids) {
			return last, nil
		}
		if time.Since(lastLog) >= 15*time.Second {
			log.Info("ramping up", "running_in_tc", tc, "running_in_buildbot", bb, "of", len(m.ids))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("only %d runs claimed and %d builds running of %d by the timeout", tc, bb, len(m.ids))
		}
		if err := pause(ctx, errc, sampleInterval); err != nil {
			return time.Time{}, err
		}
	}
}

// watchUntil samples until end, keeping the fewest running on each side.
func (m *runningMonitor) watchUntil(ctx context.Context, end time.Time, errc <-chan error, log *slog.Logger) error {
	lastLog := time.Now()
	for time.Now().Before(end) {
		tc, bb, _ := m.sample()
		if m.minTC < 0 || tc < m.minTC {
			m.minTC = tc
		}
		if m.minBB < 0 || bb < m.minBB {
			m.minBB = bb
		}
		if time.Since(lastLog) >= 30*time.Second {
			log.Info("holding", "running_in_tc", tc, "running_in_buildbot", bb, "left", time.Until(end).Round(time.Second))
			lastLog = time.Now()
		}
		if err := pause(ctx, errc, min(sampleInterval, time.Until(end))); err != nil {
			return err
		}
	}
	return nil
}

func (m *runningMonitor) peaks() (tc, bb int) { return m.peakTC, m.peakBB }

func (m *runningMonitor) holdMin() (tc, bb int) { return m.minTC, m.minBB }

// pause waits d, or less if the run fails or ends.
func pause(ctx context.Context, errc <-chan error, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scaleProcs are the processes whose cost the scale run reports; temporal
// is 0 when the Temporal server runs inside this process, persistence 0
// unless Temporal's persistence is a database server on this machine
// (PostgreSQL's postmaster).
type scaleProcs struct{ worker, starter, temporal, persistence int }

// procSnapshot is each process's peak RSS and CPU at one moment; this
// process (the stand-ins and the measuring, plus the Temporal server when
// it is embedded) is "bench"; persistence is the CPU alone of the
// database server and all its processes.
type procSnapshot struct{ worker, starter, temporal, bench, persistence localdeploy.ProcStats }

func (p scaleProcs) read() (procSnapshot, error) {
	var s procSnapshot
	var err error
	if s.worker, err = localdeploy.ReadProcStats(p.worker); err != nil {
		return s, err
	}
	if s.starter, err = localdeploy.ReadProcStats(p.starter); err != nil {
		return s, err
	}
	if p.temporal != 0 {
		if s.temporal, err = localdeploy.ReadProcStats(p.temporal); err != nil {
			return s, err
		}
	}
	if p.persistence != 0 {
		if s.persistence.CPU, err = localdeploy.ProcessTreeCPU(p.persistence); err != nil {
			return s, err
		}
	}
	s.bench, err = localdeploy.ReadProcStats(os.Getpid())
	return s, err
}

// sub is the CPU spent since earlier, with the peak RSS as of now.
func (s procSnapshot) sub(earlier procSnapshot) procSnapshot {
	d := func(a, b localdeploy.ProcStats) localdeploy.ProcStats {
		return localdeploy.ProcStats{PeakRSSBytes: a.PeakRSSBytes, CPU: a.CPU - b.CPU}
	}
	return procSnapshot{d(s.worker, earlier.worker), d(s.starter, earlier.starter), d(s.temporal, earlier.temporal), d(s.bench, earlier.bench),
		d(s.persistence, earlier.persistence)}
}
