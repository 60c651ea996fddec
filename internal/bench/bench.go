// Package bench is the end-to-end benchmark of the bridge (issue 5): a whole
// deployment on this machine (internal/localdeploy) — embedded Temporal, the
// stand-in Taskcluster queue publishing to RabbitMQ, a scheduler DB on
// MariaDB (or SQLite) prefilled with a long history, simulated Buildbot
// masters with zero-length builds — with the real worker and starter
// binaries as child processes, so their memory and CPU are measured alone;
// and, in the same run, the floor: the pending→BuildRequest step done with
// no Temporal.
package bench

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// Options configure Run.
type Options struct {
	// Tasks is how many tasks go through the bridge, and then the floor.
	Tasks int
	// Prefill is how many completed buildsets/BuildRequests the scheduler
	// DB holds before the run.
	Prefill int
	// SQLite uses a SQLite scheduler DB instead of MariaDB.
	SQLite bool
	// Rate is tasks created per second; 0 creates them all at once (16
	// concurrent createTask calls), which measures capacity.
	Rate float64
	// Timeout bounds the wait for every task to resolve (default: 3 min
	// plus 100 ms per task).
	Timeout time.Duration
	// ModuleRoot is the repository, where ./worker and ./starter are built.
	ModuleRoot string
	// ProfileDir, when set, runs the worker and starter built from
	// ./internal/bench/cmd/bbb-bench-proc (the same code plus a CPU
	// profile) and leaves worker.pprof and starter.pprof there.
	ProfileDir string
	// StartTemporal starts the Temporal server the bridge uses (the
	// command embeds one); the package itself does not link the server,
	// so its tests stay small.
	StartTemporal func() (localdeploy.Temporal, error)
	// Services are the real MariaDB and RabbitMQ.
	Services localdeploy.Services
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Run benchmarks the bridge, then the floor, and returns both.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Tasks <= 0 {
		return nil, errors.New("bench: Tasks must be positive")
	}
	return runInDeployment(ctx, o, "bbb-bench-", (*deployment).run)
}

func profileEnv(dir, name string) []string {
	if dir == "" {
		return nil
	}
	return []string{"BBB_BENCH_PROCESS=" + name, "BBB_BENCH_CPUPROFILE=" + filepath.Join(dir, name+".pprof")}
}
