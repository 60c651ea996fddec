package faults

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// Options configure Run.
type Options struct {
	// Quick runs the CI subset: the faults marked Quick, QuickTasks tasks
	// each, shorter outages.
	Quick bool
	// Faults selects faults by name; empty means all (or the quick ones).
	Faults []string
	// Tasks per fault; 0 means 300, or 80 in quick mode.
	Tasks int
	// ModuleRoot is the repository, where the binaries are built.
	ModuleRoot string
	// StartTemporal starts a fresh Temporal server (the command embeds
	// one); each fault gets its own.
	StartTemporal func() (localdeploy.Temporal, error)
	// TemporalCommand serves Temporal in a process of its own when run
	// with TemporalDirEnv set (the command: bbb-faults itself), for the
	// faults that stop Temporal (Fault.OwnTemporal).
	TemporalCommand string
	// KeepLogs keeps every fault's logs, not only a failed fault's.
	KeepLogs bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Report is a whole run's result.
type Report struct {
	Quick    bool
	Rows     []Row
	Services []string // how the dedicated services started, for the header
	Started  time.Time
	Wall     time.Duration
	Dir      string // where logs were kept ("" if none)
}

// OK reports whether every fault kept every invariant.
func (r *Report) OK() bool {
	for _, row := range r.Rows {
		if !row.OK() {
			return false
		}
	}
	return len(r.Rows) > 0
}

type runner struct {
	o       Options
	dir     string
	log     *slog.Logger
	quiet   *slog.Logger
	bins    map[string]string
	mariadb *MariaDB
	rabbit  *Rabbit
}

// Select returns the faults a run with o covers, or an error naming an
// unknown fault.
func Select(o Options) ([]Fault, error) {
	all := Catalogue()
	if len(o.Faults) == 0 {
		var out []Fault
		for _, f := range all {
			if f.Quick || !o.Quick {
				out = append(out, f)
			}
		}
		return out, nil
	}
	var out []Fault
	for _, name := range o.Faults {
		i := slices.IndexFunc(all, func(f Fault) bool { return f.Name == name })
		if i < 0 {
			names := make([]string, len(all))
			for j, f := range all {
				names[j] = f.Name
			}
			return nil, fmt.Errorf("faults: unknown fault %q (known: %s)", name, strings.Join(names, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Run builds the binaries, starts the dedicated MariaDB and RabbitMQ, runs
// each selected fault in a fresh deployment and tears everything down.
func Run(ctx context.Context, o Options) (*Report, error) {
	faults, err := Select(o)
	if err != nil {
		return nil, err
	}
	if o.Tasks == 0 {
		o.Tasks = 300
		if o.Quick {
			o.Tasks = 80
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := os.MkdirTemp("", "bbb-faults-")
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, dir: dir, log: o.Log, quiet: localdeploy.QuietLogger()}
	rep := &Report{Quick: o.Quick, Started: time.Now()}
	keep := o.KeepLogs
	defer func() {
		if keep {
			rep.Dir = dir
		} else {
			os.RemoveAll(dir)
		}
	}()

	r.log.Info("building the worker, the starter and bbb-faults-proc")
	r.bins, err = localdeploy.BuildBinaries(ctx, o.ModuleRoot, filepath.Join(dir, "bin"),
		"./worker", "./starter", "./internal/faults/cmd/bbb-faults-proc")
	if err != nil {
		keep = true
		return nil, err
	}
	t0 := time.Now()
	if err := os.MkdirAll(filepath.Join(dir, "mariadb"), 0o755); err != nil {
		return nil, err
	}
	if r.mariadb, err = StartMariaDB(ctx, filepath.Join(dir, "mariadb")); err != nil {
		keep = true
		return nil, err
	}
	defer r.mariadb.Stop()
	rep.Services = append(rep.Services, fmt.Sprintf("MariaDB %s (install + start %s)", r.mariadb.Addr(), time.Since(t0).Round(100*time.Millisecond)))
	t0 = time.Now()
	if err := os.MkdirAll(filepath.Join(dir, "rabbitmq"), 0o755); err != nil {
		return nil, err
	}
	if r.rabbit, err = StartRabbit(ctx, filepath.Join(dir, "rabbitmq")); err != nil {
		keep = true
		return nil, err
	}
	defer r.rabbit.Stop()
	rep.Services = append(rep.Services, fmt.Sprintf("RabbitMQ %s (start %s)", r.rabbit.amqpAddr, time.Since(t0).Round(100*time.Millisecond)))
	r.log.Info("dedicated services up", "services", rep.Services)

	for _, f := range faults {
		if ctx.Err() != nil {
			break
		}
		r.log.Info("fault: starting", "fault", f.Name, "tasks", o.Tasks)
		row := r.runFault(ctx, f)
		r.log.Info("fault: done", "fault", f.Name, "ok", row.OK(), "took", row.Duration.Round(time.Second))
		if !row.OK() {
			keep = true
			row.LogDir = filepath.Join(dir, f.Name)
		} else if !o.KeepLogs {
			os.RemoveAll(filepath.Join(dir, f.Name))
		}
		rep.Rows = append(rep.Rows, row)
	}
	rep.Wall = time.Since(rep.Started)
	return rep, ctx.Err()
}

// runFault runs one fault in a fresh deployment and checks the invariants.
func (r *runner) runFault(ctx context.Context, f Fault) (row Row) {
	start := time.Now()
	row = Row{Fault: f.Name, Tasks: r.o.Tasks}
	defer func() { row.Duration = time.Since(start) }()
	problem := func(format string, args ...any) {
		row.Other++
		row.Problems = append(row.Problems, fmt.Sprintf(format, args...))
	}
	outage := f.Outage
	if r.o.Quick && f.QuickOutage > 0 {
		outage = f.QuickOutage
	}
	if f.ForOutage != nil {
		f.ForOutage(&f, outage)
	}
	d, err := newDeployment(r, f)
	if err != nil {
		problem("deployment: %v", err)
		return row
	}
	defer d.Close()
	if err := d.up(ctx); err != nil {
		problem("deployment: %v", err)
		return row
	}
	d.plan(r.o.Tasks)
	if f.Setup != nil {
		f.Setup(d)
	}
	for i := 1; i <= max(f.Workers, 1); i++ {
		if _, err := d.start(ctx, fmt.Sprintf("worker-%d", i), nil); err != nil {
			problem("start: %v", err)
			return row
		}
	}
	for i := 1; i <= max(f.Starters, 1); i++ {
		var env []string
		if i == 1 {
			env = f.StarterEnv
		}
		if _, err := d.start(ctx, fmt.Sprintf("starter-%d", i), env); err != nil {
			problem("start: %v", err)
			return row
		}
	}
	defer func() {
		for _, p := range d.stopAll() {
			problem("stop: %s", p)
		}
		d.mu.Lock()
		for _, p := range d.all {
			if c := crash(p); c != "" {
				row.Other++
				row.Problems = append(row.Problems, "crash: "+c)
			}
		}
		if d.temporal != nil {
			for _, c := range d.temporal.Crashes() {
				row.Other++
				row.Problems = append(row.Problems, "crash: "+c)
			}
		}
		for _, v := range d.violations {
			row.Other++
			row.Problems = append(row.Problems, v)
		}
		d.mu.Unlock()
		row.Notes = append(append([]string(nil), d.notes...), row.Notes...)
	}()

	created := make(chan error, 1)
	go func() { created <- d.createTasks(ctx) }()
	if err := f.Strike(ctx, d, outage); err != nil {
		problem("fault: %v", err)
	}
	if err := <-created; err != nil {
		problem("creating tasks: %v", err)
	}
	healed := time.Now()

	// Settling is bounded: the longest build, a reclaim period, the
	// finished grace, and the backlog of a few hundred tasks.
	settle := f.MaxBuild + f.claim() + finishedGrace + 2*time.Minute
	if left := d.waitSettled(ctx, settle); left > 0 {
		d.log.Warn("tasks not settled", "left", left, "after", settle)
	}
	row.Notes = append(row.Notes, fmt.Sprintf("settled %s after healing", time.Since(healed).Round(time.Second)))
	if f.Check != nil {
		for _, v := range f.Check(d) {
			d.violation("%s", v)
		}
	}
	if err := d.checkTasks(ctx, &row); err != nil {
		problem("checking tasks: %v", err)
	}
	open, err := d.waitNoOpenWorkflows(ctx, 2*time.Minute)
	if err != nil {
		problem("listing workflows: %v", err)
	}
	if len(open) > 0 {
		problem("%d task workflows still open, e.g. %s", len(open), open[0])
	}
	full, err := d.waitDrained(ctx, time.Minute)
	if err != nil {
		problem("reading queues: %v", err)
	}
	for _, q := range full {
		problem("queue not drained: %s", q)
	}
	return row
}
