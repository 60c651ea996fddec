package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/devserver"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

// demoPersistence is -temporal's value for the demo's own server: the dev
// server (internal/devserver) on a SQLite file, with its settings and its
// one task-queue partition, in this process. It is slow by nature (every
// commit is written to disk), which is what the figure shows.
const demoPersistence = "sqlite-file"

// demoStarter starts a dev server on a fresh folder, removed when it stops.
func demoStarter(ctx context.Context) func() (localdeploy.Temporal, error) {
	return func() (localdeploy.Temporal, error) {
		dir, err := os.MkdirTemp("", "bbb-bench-devserver-")
		if err != nil {
			return localdeploy.Temporal{}, err
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		srv, err := devserver.Start(sctx, devserver.Options{DataDir: dir, FrontendAddr: "127.0.0.1:0", UIAddr: "127.0.0.1:0"})
		if err != nil {
			_ = os.RemoveAll(dir)
			return localdeploy.Temporal{}, err
		}
		c, err := temporalclient.Dial(sctx, srv.FrontendAddr(), srv.Namespace(), localdeploy.QuietLogger())
		if err != nil {
			srv.Stop()
			_ = os.RemoveAll(dir)
			return localdeploy.Temporal{}, fmt.Errorf("dial the dev server: %w", err)
		}
		return localdeploy.Temporal{
			HostPort:  srv.FrontendAddr(),
			Namespace: srv.Namespace(),
			Client:    c,
			Stop: func() {
				c.Close()
				srv.Stop()
				_ = os.RemoveAll(dir)
			},
			Describe: "Temporal dev server (the demo's) on a SQLite file, 1 history shard, 1 task-queue partition",
		}, nil
	}
}
