package pulse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// Messages that failed while a dependency was down are held for a growing
// retry delay; once a handler succeeds again they must go back to their
// queue at once, not after the rest of their delay. The fault matrix's
// Temporal outage found why: a RETRY build's finish, held for 30 s after
// Temporal returned, reached its workflow after the finish of the build
// that replaced it, and the task was resolved without its retry.
func TestHeldDeliveriesAreRetriedOnceTheDependencyRecovers(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	opts := quickOptions(u)
	// Long enough that a held message retried only at the end of its
	// delay cannot pass the check below.
	opts.RetryDelay, opts.MaxRetryDelay = 100*time.Millisecond, 15*time.Second
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))

	var mu sync.Mutex
	down := true
	failed := 0
	done := map[string]time.Time{}
	c := pendingConsumer(t, opts, func(_ context.Context, m pulse.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			failed++
			return errors.New("temporal: connection refused")
		}
		done[string(m.Body)] = time.Now()
		return nil
	})
	stop := running(t, c)
	defer stop()
	waitReady(t, c)

	const held = 8
	for i := range held {
		publish(t, p, tcPendingEx, ourTaskKey, fmt.Sprintf(`{"held":%d}`, i))
	}
	// Once each has failed and two of them twice, the consumer's failure
	// count has grown past the point where they are held for the maximum.
	eventually(t, "the held messages to fail repeatedly", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failed >= held+2
	})
	mu.Lock()
	down = false
	mu.Unlock()
	recovered := time.Now()
	publish(t, p, tcPendingEx, ourTaskKey, `{"new":true}`)

	eventually(t, "every held message to be handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) == held+1
	})
	mu.Lock()
	defer mu.Unlock()
	for body, at := range done {
		if wait := at.Sub(recovered); wait > 3*time.Second {
			t.Errorf("%s handled %s after the dependency recovered; want within a few retry delays of %s, not the held delay of up to %s",
				body, wait.Round(time.Millisecond), opts.RetryDelay, opts.MaxRetryDelay)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
