// Command demo is the Buildbot Bridge's one-command demo (`make demo`): in
// the foreground it runs an embedded Temporal dev server with its Web UI,
// the stand-in Taskcluster queue, a simulated Buildbot 0.8 master with
// self-serve, and the bridge's worker and starter, then creates a handful
// of tasks (success, failure, retry, a cancel by hand, an ignored builder,
// a refused payload) and narrates what happens to them.
//
// With -buildbot real (`make demo BUILDBOT=real`) a real Buildbot 3 master
// and worker (Debian's packages) take the simulator's place, and the
// bridge talks to the master through its REST API and pushes.
//
// Everything that must survive a restart is under -data: Temporal's
// history, the scheduler DB or the real master and worker, the queue's
// state and demo.json. Ctrl-C stops everything cleanly; running it again
// resumes where it stopped.
//
//	go run ./internal/demo [-buildbot sim|real] [-data DIR] [-start-services] [-keep-going=false] [-scheduler-db URL]
//	go run ./internal/demo [-buildbot sim|real] [-data DIR] -create-task BUILDER
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	o := defaultOptions()
	var createBuilder string
	flag.StringVar(&o.Buildbot, "buildbot", o.Buildbot, "which Buildbot: sim (a simulated Buildbot 0.8 master) or real (a Buildbot 3 master and worker, installed with apt-get by -start-services if missing)")
	flag.StringVar(&o.DataFlag, "data", "", "folder for everything the demo keeps between runs (default ./data, with -buildbot real ./data-real)")
	flag.BoolVar(&o.KeepGoing, "keep-going", o.KeepGoing, "keep running after the demo tasks ended, until Ctrl-C (false: stop once they ended as expected)")
	flag.BoolVar(&o.StartServices, "start-services", false, "run scripts/services.sh if RabbitMQ is not up, or (-buildbot real) Buildbot is not installed (installs them with apt-get when missing)")
	flag.StringVar(&o.SchedulerDB, "scheduler-db", "", "Buildbot scheduler DB as a SQLAlchemy URL, e.g. mysql://root@127.0.0.1:3306/bbb_demo (default: SQLite in the data folder; -buildbot sim only)")
	flag.StringVar(&createBuilder, "create-task", "", "create one more task for this builder in the running demo, then exit")
	pprofAddr := flag.String("pprof", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060, to look at the demo's memory")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if o.Buildbot != buildbotSim && o.Buildbot != buildbotReal {
		fmt.Fprintf(os.Stderr, "demo: -buildbot %q: want sim or real\n", o.Buildbot)
		os.Exit(2)
	}
	if o.Buildbot == buildbotReal && o.SchedulerDB != "" {
		fmt.Fprintln(os.Stderr, "demo: -scheduler-db is for -buildbot sim: a real master keeps its own database in the data folder")
		os.Exit(2)
	}
	if o.DataFlag == "" {
		o.DataFlag = defaultDataFlag(o.Buildbot)
	}
	dir, err := filepath.Abs(o.DataFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	o.DataDir = dir

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the stop is orderly; a second one kills.
		<-ctx.Done()
		stop()
	}()

	boundMemory()
	if *pprofAddr != "" {
		go servePprof(*pprofAddr)
	}
	if createBuilder != "" {
		err = createTaskCommand(ctx, o, createBuilder)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
