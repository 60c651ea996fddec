package bridge

import (
	"context"
	"log/slog"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
)

// RunStarter is the starter process: open the scheduler DB (Buildbot 0.8:
// it maps BuildRequests to tasks), connect to Temporal, consume the
// bridge's Pulse queues (and take a modern Buildbot's pushes) until ctx ends, then stop taking messages and let the handlers in
// flight finish. Any number of starters may run side by side.
func RunStarter(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	db, tc, closeAll, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	if db == nil {
		// An interface holding a nil *DB is not nil: the router must see
		// that there is no scheduler DB.
		return starter.Run(ctx, cfg, nil, tc, log)
	}
	return starter.Run(ctx, cfg, db, tc, log)
}
