// Package bridge wires the bridge's two processes from their config: the
// worker (task and sweep workflows, activities) and the starter (Pulse
// consumers). The main packages and the end-to-end tests run the same code.
package bridge

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

// startupTimeout bounds each start-up step that talks to a server.
const startupTimeout = time.Minute

// Process is what a main package runs once its config is loaded; it returns
// when ctx ends (after draining) or on a fatal error.
type Process func(ctx context.Context, cfg *config.Config, log *slog.Logger) error

// Main is the whole of a main package: flags -config/-c, logs on stderr,
// SIGINT/SIGTERM for a graceful stop, exit status 1 on failure and 2 on
// bad usage.
func Main(name string, run Process) {
	var configPath string
	flag.StringVar(&configPath, "config", "", "path of the bridge's config.json")
	flag.StringVar(&configPath, "c", "", "shorthand for -config")
	flag.Parse()
	if configPath == "" || flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "usage: %s -config FILE\n", name)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := RunWithConfigFile(ctx, configPath, log, run); err != nil {
		log.Error(name+" stopped", "err", err)
		os.Exit(1)
	}
	log.Info(name + " stopped")
}

// RunWithConfigFile loads the config at path (environment variables apply)
// and runs the process with it.
func RunWithConfigFile(ctx context.Context, path string, log *slog.Logger, run Process) error {
	cfg, err := config.Load(path, os.Getenv, log)
	if err != nil {
		return err
	}
	log.Info("config loaded", "config", cfg)
	return run(ctx, cfg, log)
}

// connect opens what both processes need: the scheduler DB with the
// bridge's table (Buildbot 0.8 only; nil for a modern Buildbot) and a
// Temporal client. close releases both.
func connect(ctx context.Context, cfg *config.Config, log *slog.Logger) (*schedulerdb.DB, client.Client, func(), error) {
	var db *schedulerdb.DB
	if cfg.Buildbot == nil {
		var err error
		if db, err = openSchedulerDB(ctx, cfg); err != nil {
			return nil, nil, nil, err
		}
	}
	closeDB := func() {
		if db != nil {
			db.Close()
		}
	}
	tc, err := temporalclient.DialOptions(ctx, temporalclient.Options{
		Address:   cfg.Temporal.Address,
		Namespace: cfg.Temporal.Namespace,
		TLS:       cfg.Temporal.TLS.ClientConfig(),
		Gzip:      cfg.Temporal.GrpcCompression == config.CompressionGzip,
	}, log)
	if err != nil {
		closeDB()
		return nil, nil, nil, err
	}
	return db, tc, func() { tc.Close(); closeDB() }, nil
}

// openSchedulerDB connects to the scheduler DB and creates the bridge's own
// table if missing, the only DDL the bridge ever runs there. Both processes
// do it, so neither depends on the other having started first.
func openSchedulerDB(ctx context.Context, cfg *config.Config) (*schedulerdb.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	db, err := schedulerdb.OpenURL(ctx, cfg.SchedulerDB)
	if err != nil {
		return nil, err
	}
	if err := db.EnsureBridgeTable(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
