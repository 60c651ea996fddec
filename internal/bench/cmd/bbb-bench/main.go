// Command bbb-bench is the bridge's end-to-end benchmark (README,
// "Performance"): it runs N tasks through a whole deployment on this
// machine and then through the no-Temporal floor, and prints one table.
//
//	go run ./internal/bench/cmd/bbb-bench [-tasks 2000] [-prefill 1000000] [-sqlite] [-rate 0] [-quick] [-cpuprofile DIR]
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
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/bbbridge/buildbot-bridge/internal/bench"
)

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
	if os.Getenv(temporalChildEnv) != "" {
		os.Exit(serveTemporal())
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
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
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", "bbb-bench")
	root, err := moduleRoot()
	if err != nil {
		log.Error("cannot find the repository", "err", err)
		os.Exit(2)
	}
	o.ModuleRoot, o.Log = root, log
	o.StartTemporal = startTemporal
	if *scale {
		// Its own process, so that the server's CPU and memory are
		// measured apart from the stand-ins'.
		o.StartTemporal = func() (bench.TemporalServer, error) { return startTemporalChild(o.ProfileDir) }
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	if *scale {
		code = runScale(ctx, o, sc, log)
	} else {
		code = run(ctx, o, log)
	}
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

func run(ctx context.Context, o bench.Options, log *slog.Logger) int {
	res, err := bench.Run(ctx, o)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		return 1
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return 1
	}
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}

func runScale(ctx context.Context, o bench.Options, sc bench.Scale, log *slog.Logger) int {
	res, err := bench.RunScale(ctx, o, sc)
	if err != nil {
		log.Error("scale run failed", "err", err)
		return 1
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return 1
	}
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}

// startTemporal embeds a Temporal server as the end-to-end tests do
// (temporaltest: in-memory SQLite persistence, its own log off).
func startTemporal() (bench.TemporalServer, error) {
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{
		Logger: sdklog.NewStructuredLogger(bench.QuietLogger()),
	}))
	return bench.TemporalServer{
		HostPort:  ts.GetFrontendHostPort(),
		Namespace: ts.GetDefaultNamespace(),
		Client:    ts.GetDefaultClient(),
		Stop:      ts.Stop,
	}, nil
}

// moduleRoot is the directory of the main module's go.mod, where the worker
// and starter packages are built from.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module (run from the repository)")
	}
	return filepath.Dir(mod), nil
}
