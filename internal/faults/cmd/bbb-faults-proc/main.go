// Command bbb-faults-proc is the bridge's worker or starter exactly as
// ./worker and ./starter run them, plus the fault matrix's hook, so the
// production binaries carry no fault code:
//
//	BBB_FAULTS_PROCESS=starter BBB_FAULTS_DIE_BEFORE=SignalWithStartWorkflow:40 bbb-faults-proc -config config.json
//
// makes the starter SIGKILL itself on its 40th SignalWithStart, after the
// message was received and decoded and before Temporal heard of it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/bridge"
	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/faults"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

func main() {
	name := os.Getenv("BBB_FAULTS_PROCESS")
	switch name {
	case "worker":
		bridge.Main(name, bridge.RunWorker)
	case "starter":
		spec := os.Getenv(faults.DieBeforeEnv)
		if spec == "" {
			bridge.Main(name, bridge.RunStarter)
			return
		}
		method, n, err := faults.ParseDieBefore(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbb-faults-proc:", err)
			os.Exit(2)
		}
		bridge.Main(name, dyingStarter(method, n))
	default:
		fmt.Fprintln(os.Stderr, "bbb-faults-proc: BBB_FAULTS_PROCESS must be worker or starter")
		os.Exit(2)
	}
}

// dyingStarter is bridge.RunStarter with the hook between the router and
// Temporal.
func dyingStarter(method string, n int) bridge.Process {
	return func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		db, err := schedulerdb.OpenURL(octx, cfg.SchedulerDB)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.EnsureBridgeTable(octx); err != nil {
			return err
		}
		tc, err := temporalclient.DialTLS(octx, cfg.Temporal.Address, cfg.Temporal.Namespace, cfg.Temporal.TLS.ClientConfig(), log)
		if err != nil {
			return err
		}
		defer tc.Close()
		dying := &faults.DyingClient{Client: tc, Method: method, N: n, Die: func() {
			log.Warn(faults.SelfKillMarker, "method", method, "call", n)
			// SIGKILL: no deferred call, no ack, no drain, as a host dying.
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}}
		return starter.Run(ctx, cfg, db, dying, log)
	}
}
