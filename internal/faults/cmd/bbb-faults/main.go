// Command bbb-faults is the bridge's fault matrix (README, "Fault
// matrix"): each fault strikes a fresh deployment carrying a few hundred
// tasks, and the invariants are checked once it has healed.
//
//	go run ./internal/faults/cmd/bbb-faults [-quick] [-faults a,b] [-tasks N] [-keep-logs] [-list]
//
// It exits 1 if any invariant was violated. Run by the matrix itself with
// BBB_FAULTS_TEMPORAL_DIR set, it is the Temporal server of the faults that
// stop Temporal, in a process of its own (temporal.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bbbridge/buildbot-bridge/internal/faults"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy/embedtemporal"
)

func main() {
	if dir := os.Getenv(faults.TemporalDirEnv); dir != "" {
		os.Exit(serveTemporal(dir, os.Getenv(faults.TemporalAddrEnv)))
	}
	o := faults.Options{}
	flag.BoolVar(&o.Quick, "quick", false, "CI mode: the quick subset of faults, 80 tasks each, shorter outages")
	flag.IntVar(&o.Tasks, "tasks", 0, "tasks per fault (default 300; 80 with -quick)")
	only := flag.String("faults", "", "comma-separated fault names to run (default: all, or the quick subset)")
	flag.BoolVar(&o.KeepLogs, "keep-logs", false, "keep every fault's logs (a failed fault's are always kept)")
	list := flag.Bool("list", false, "list the faults and exit")
	localdeploy.ParseFlags()
	if *list {
		for _, f := range faults.Catalogue() {
			q := ""
			if f.Quick {
				q = " [quick]"
			}
			fmt.Printf("%-28s %s%s\n", f.Name, f.Summary, q)
		}
		return
	}
	if *only != "" {
		o.Faults = strings.Split(*only, ",")
	}
	if _, err := faults.Select(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log, root := localdeploy.Command("bbb-faults")
	// The Taskcluster client logs every retried 5xx, with the response,
	// through the standard logger: thousands of lines in the flaky-queue
	// fault, which the table sums up.
	stdlog.SetOutput(io.Discard)
	o.ModuleRoot, o.Log, o.StartTemporal = root, log, embedtemporal.Starter(localdeploy.QuietLogger())
	// The faults that stop Temporal run it as this command in a process of
	// its own (serveTemporal).
	exe, err := os.Executable()
	if err != nil {
		log.Error("cannot find this command's executable", "err", err)
		os.Exit(2)
	}
	o.TemporalCommand = exe
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := faults.Run(ctx, o)
	if err != nil {
		log.Error("fault matrix failed", "err", err)
	}
	if rep != nil {
		if werr := rep.WriteTable(os.Stdout); werr != nil {
			os.Exit(1)
		}
		if rep.Dir != "" {
			fmt.Printf("logs: %s\n", rep.Dir)
		}
	}
	if err != nil || rep == nil || !rep.OK() {
		os.Exit(1)
	}
}
