package temporalclient

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDialNamesTheAddressWhenNothingListens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	c, err := Dial(ctx, "127.0.0.1:1", "bridge", slog.New(slog.DiscardHandler))
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with nothing listening")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "bridge") {
		t.Errorf("error %q should name the address and namespace", err)
	}
	if time.Since(start) > 6*time.Second {
		t.Errorf("Dial took %s, beyond its context", time.Since(start))
	}
}
