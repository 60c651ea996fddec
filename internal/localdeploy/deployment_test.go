package localdeploy

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
)

// A deployment that cannot start says why and leaves nothing running: the
// scheduler DB it had opened, with Buildbot's schema, is closed again.
func TestStartFailingStopsWhatItStarted(t *testing.T) {
	var db *schedulerdb.DB
	noServer := errors.New("no Temporal server here")
	d, err := Start(context.Background(), Options{
		Identity: NewIdentity("test"),
		Temporal: func() (Temporal, error) { return Temporal{}, noServer },
		Buildbot08: &Buildbot08{
			SchedulerDB: "sqlite:///" + filepath.Join(t.TempDir(), "scheduler.db"),
			Prepare: func(ctx context.Context, opened *schedulerdb.DB) error {
				db = opened
				var n int
				return opened.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM buildrequests").Scan(&n)
			},
		},
	})
	if d != nil || !errors.Is(err, noServer) {
		t.Fatalf("Start = %v, %v; want no deployment and the Temporal error", d, err)
	}
	if db == nil {
		t.Fatal("the scheduler DB was not prepared before Temporal started")
	}
	if err := db.SQL().Ping(); err == nil {
		t.Error("the scheduler DB is still open after the failed start")
	}
}
