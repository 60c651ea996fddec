// Command bbb-bench-proc is the bridge's worker or starter, exactly as
// ./worker and ./starter run them, plus a CPU profile: bbb-bench -cpuprofile
// runs it so that the profile is of the worker (or starter) process alone.
//
//	BBB_BENCH_PROCESS=worker BBB_BENCH_CPUPROFILE=worker.pprof bbb-bench-proc -config config.json
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/bbbridge/buildbot-bridge/internal/bridge"
)

func main() {
	name := os.Getenv("BBB_BENCH_PROCESS")
	run := map[string]bridge.Process{"worker": bridge.RunWorker, "starter": bridge.RunStarter}[name]
	if run == nil {
		fmt.Fprintln(os.Stderr, "bbb-bench-proc: BBB_BENCH_PROCESS must be worker or starter")
		os.Exit(2)
	}
	if path := os.Getenv("BBB_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbb-bench-proc:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bbb-bench-proc:", err)
			os.Exit(1)
		}
		// bridge.Main returns after a graceful stop (SIGTERM), so the
		// profile is complete; on a failure it exits and the profile is
		// lost, which is fine for a benchmark that failed anyway.
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	bridge.Main(name, run)
}
