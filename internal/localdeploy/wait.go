package localdeploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
)

// WaitReady polls ready until it succeeds, the process whose exit closes
// exited is gone, or timeout passes; what names the process in the error.
func WaitReady(ctx context.Context, timeout time.Duration, what string, exited <-chan struct{}, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting; see its log", what)
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ready(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddr is a 127.0.0.1 address with a port nothing listens on now, for
// a listener told its port before it binds.
func FreeAddr() (string, error) {
	return freeport.On("127.0.0.1")
}

// UniqueName is prefix and 12 random hex digits: a database, vhost or node
// name no other run on the machine has.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// RandomToken is a fresh access token for a stand-in queue's client.
func RandomToken() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
