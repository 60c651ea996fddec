// Package bench is the end-to-end benchmark of the bridge (issue 5): a whole
// deployment on this machine — embedded Temporal, the stand-in Taskcluster
// queue publishing to RabbitMQ, a scheduler DB on MariaDB (or SQLite)
// prefilled with a long history, simulated Buildbot masters with
// zero-length builds — with the real worker and starter binaries as child
// processes, so their memory and CPU are measured alone; and, in the same
// run, the floor: the pending→BuildRequest step done with no Temporal.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
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
	StartTemporal func() (TemporalServer, error)
	// Services are the real MariaDB and RabbitMQ.
	Services Services
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// TemporalServer is a running Temporal server.
type TemporalServer struct {
	HostPort  string
	Namespace string
	// Client reads the task workflows' histories after the run.
	Client client.Client
	Stop   func()
	// Pid is the server's own process, or 0 when it runs inside this one;
	// the scale run reports its CPU and memory apart when it has one.
	Pid int
}

// QuietLogger is for the stand-ins, consumers and the Temporal client:
// only their warnings, on stderr.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Run benchmarks the bridge, then the floor, and returns both.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Tasks <= 0 {
		return nil, errors.New("bench: Tasks must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeout == 0 {
		o.Timeout = 3*time.Minute + time.Duration(o.Tasks)*100*time.Millisecond
	}
	if o.Services == (Services{}) {
		o.Services = DefaultServices()
	}
	workDir, err := os.MkdirTemp("", "bbb-bench-")
	if err != nil {
		return nil, err
	}
	d := &deployment{o: o, dir: workDir, rec: newRecorder(), quiet: QuietLogger()}
	defer d.close()
	res, err := d.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (child logs in %s)", err, workDir)
	}
	// Logs are only worth keeping when something went wrong.
	if len(res.Problems) == 0 {
		os.RemoveAll(workDir)
	} else {
		res.LogDir = workDir
	}
	return res, nil
}

func randomToken() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func profileEnv(dir, name string) []string {
	if dir == "" {
		return nil
	}
	return []string{"BBB_BENCH_PROCESS=" + name, "BBB_BENCH_CPUPROFILE=" + filepath.Join(dir, name+".pprof")}
}
