package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/devserver"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// serveTemporal is this command run by the fault matrix as a Temporal
// server of its own (faults.TemporalProcess): the dev server on a SQLite
// file under dir with its frontend on addr, so that a fault can kill it
// and start it again on the same history and the same address. It says
// where it serves on stdout and stops when stdin closes: the matrix
// stopping it, or dying.
func serveTemporal(dir, addr string) int {
	// The server is verbose at Info; its warnings are what a fault's log
	// needs (shards reacquired, tasks reloaded after a kill).
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:      dir,
		FrontendAddr: addr,
		// The Web UI comes with the dev server; nobody looks at it here.
		UIAddr: "127.0.0.1:0",
		Logger: log,
	})
	cancel()
	if err != nil {
		log.Error("bbb-faults: Temporal server did not start", "err", err)
		return 1
	}
	localdeploy.AnnounceTemporal(srv.FrontendAddr(), srv.Namespace())
	srv.Stop()
	return 0
}
