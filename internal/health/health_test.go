package health

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
)

func TestHealthzFollowsReadiness(t *testing.T) {
	addr, err := freeport.On("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	stop, err := Serve(addr, "worker.listen", ready.Load, "search attributes not registered yet", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func() (int, string) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "search attributes") {
		t.Errorf("before ready: %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, body := get(); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("when ready: %d %q, want 200 ok", code, body)
	}
	if _, err := Serve(addr, "worker.listen", ready.Load, "", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "worker.listen") {
		t.Errorf("second listener on the same address: %v, want an error naming worker.listen", err)
	}
}
