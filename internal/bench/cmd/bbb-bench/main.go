// Command bbb-bench is the bridge's end-to-end benchmark (README,
// "Performance"): it runs N tasks through a whole deployment on this
// machine and then through the no-Temporal floor, and prints one table.
//
//	go run ./internal/bench/cmd/bbb-bench [-tasks 2000] [-prefill 1000000] [-sqlite] [-rate 0] [-quick] [-cpuprofile DIR]
//
// Either run puts Temporal on in-memory SQLite (-temporal sqlite, the
// default) or on the machine's PostgreSQL (-temporal postgres [-shards 4]);
// -partitions sets the task queues' partitions on either. The benchmark
// also runs on the demo's dev server (-temporal sqlite-file).
//
// With -scale it runs the scale run instead (README, "Scale run"): builds
// held running while the stand-in queue's claim timeout is scaled down.
//
//	go run ./internal/bench/cmd/bbb-bench -scale [-scale-builds 5000] [-claim-timeout 240s] [-periods 3] [-finish-rate 10] [-quick]
//
// It exits 1 if any task was not resolved, or resolved wrongly (in the
// scale run also: a claim expired, a reclaim was refused).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bench"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy/embedtemporal"
)

// defaultPartitions is -partitions' default; README, "Performance", has
// the figures it was chosen from.
const defaultPartitions = 1

func main() {
	o := bench.Options{}
	flag.IntVar(&o.Tasks, "tasks", 2000, "tasks to run through the bridge (and the floor)")
	flag.IntVar(&o.Prefill, "prefill", 1_000_000, "completed BuildRequests in the scheduler DB before the run")
	flag.BoolVar(&o.SQLite, "sqlite", false, "use a SQLite scheduler DB instead of MariaDB")
	flag.Float64Var(&o.Rate, "rate", 0, "tasks created per second; 0 creates them all at once")
	flag.DurationVar(&o.Timeout, "timeout", 0, "how long to wait for every task to resolve (default 3m + 100ms per task)")
	flag.StringVar(&o.ProfileDir, "cpuprofile", "", "directory for CPU profiles: worker.pprof, starter.pprof, bench.pprof (this process), and with -scale temporal.pprof")
	quick := flag.Bool("quick", false, "CI mode: 200 tasks, prefill 10000 (unless -tasks/-prefill are given); with -scale: 200 builds, 30s claim timeout")
	scale := flag.Bool("scale", false, "the scale run: -scale-builds builds held running for -periods claim periods of -claim-timeout, then finished")
	var sc bench.Scale
	scaleBuilds := flag.Int("scale-builds", 5000, "with -scale: builds running at once")
	flag.DurationVar(&sc.ClaimTimeout, "claim-timeout", 240*time.Second, "with -scale: the stand-in queue's claim timeout (120 s is not carried on 2 shared cores, see README)")
	flag.IntVar(&sc.Periods, "periods", 3, "with -scale: claim periods to hold every build open after the last one started")
	flag.Float64Var(&sc.FinishRate, "finish-rate", 10, "with -scale: builds finished per second at the end; 0 finishes them all at once")
	var tc embedtemporal.Config
	flag.StringVar(&tc.Persistence, "temporal", embedtemporal.SQLite, "Temporal's persistence: "+embedtemporal.SQLite+" (in memory), "+embedtemporal.Postgres+
		" (databases created on BBB_TEST_POSTGRES, default 127.0.0.1:5432, and dropped at the end) or "+demoPersistence+" (the demo's dev server, on a file)")
	flag.IntVar(&tc.Shards, "shards", 0, fmt.Sprintf("with -temporal %s: history shards (0: %d)", embedtemporal.Postgres, embedtemporal.DefaultShards))
	flag.IntVar(&tc.Partitions, "partitions", defaultPartitions, fmt.Sprintf("the task queues' partitions, through the server's dynamic config (the server's own default is %d)", embedtemporal.ServerDefaultPartitions))
	if os.Getenv(temporalChildEnv) != "" {
		os.Exit(serveTemporal())
	}
	localdeploy.ParseFlags()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	demo := tc.Persistence == demoPersistence
	var err error
	switch {
	case demo && (set["shards"] || set["partitions"] || *scale):
		err = fmt.Errorf("-temporal %s is the demo's own server as it is (1 shard, 1 partition, in this process): no -shards, -partitions or -scale", demoPersistence)
	case !demo:
		err = tc.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbb-bench:", err)
		os.Exit(2)
	}
	if tc.Persistence == embedtemporal.Postgres {
		tc.Postgres = embedtemporal.DefaultPostgres()
	}
	if *quick {
		if !set["tasks"] {
			o.Tasks = 200
		}
		if !set["prefill"] {
			o.Prefill = 10_000
		}
	}
	if *scale {
		// The scale run is about claims, not the DB: a small prefill
		// unless asked.
		o.Tasks = *scaleBuilds
		if !set["prefill"] {
			o.Prefill = 10_000
		}
		if *quick {
			if !set["scale-builds"] {
				o.Tasks = 200
			}
			if !set["claim-timeout"] {
				sc.ClaimTimeout = 30 * time.Second
			}
		}
	}
	log, root := localdeploy.Command("bbb-bench")
	o.ModuleRoot, o.Log = root, log
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if tc.Persistence == embedtemporal.Postgres {
		if err := ensurePostgres(ctx, root, tc.Postgres.Addr); err != nil {
			log.Error("PostgreSQL is not there", "err", err)
			os.Exit(2)
		}
	}
	o.StartTemporal = embedtemporal.ConfigStarter(ctx, tc, localdeploy.QuietLogger())
	if demo {
		o.StartTemporal = demoStarter(ctx)
	}
	if *scale {
		// Its own process, so that the server's CPU and memory are
		// measured apart from the stand-ins'.
		o.StartTemporal = func() (localdeploy.Temporal, error) { return startTemporalChild(tc, o.ProfileDir) }
	}
	if o.ProfileDir != "" {
		if o.ProfileDir, err = filepath.Abs(o.ProfileDir); err == nil {
			err = os.MkdirAll(o.ProfileDir, 0o755)
		}
		if err != nil {
			log.Error("bad -cpuprofile", "err", err)
			os.Exit(2)
		}
	}
	if o.ProfileDir != "" {
		// This process holds the embedded Temporal server and the
		// stand-ins; its profile says how much of the machine they take.
		f, err := os.Create(filepath.Join(o.ProfileDir, "bench.pprof"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cannot profile", "err", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	var code int
	if *scale {
		res, err := bench.RunScale(ctx, o, sc)
		code = report(log, "scale run", res, err)
	} else {
		res, err := bench.Run(ctx, o)
		code = report(log, "benchmark", res, err)
	}
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

// outcome is a run's result: bench.Result or bench.ScaleResult.
type outcome interface {
	WriteTable(io.Writer) error
	OK() bool
}

// report prints the run's table and returns the exit code: 1 if the run
// failed or found a problem.
func report(log *slog.Logger, what string, res outcome, err error) int {
	if err != nil {
		log.Error(what+" failed", "err", err)
		return 1
	}
	if err := res.WriteTable(os.Stdout); err != nil || !res.OK() {
		return 1
	}
	return 0
}

// ensurePostgres starts the machine's PostgreSQL with scripts/services.sh
// when nothing answers at addr and addr is that one's.
func ensurePostgres(ctx context.Context, root, addr string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		return conn.Close()
	}
	if addr != embedtemporal.LocalPostgres {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "services.sh"), "postgresql")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/services.sh postgresql: %w", err)
	}
	return nil
}
