package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiopts "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiServer is the Temporal Web UI, with its assets compiled in.
type uiServer struct {
	srv  *uiserver.Server
	url  string
	done chan struct{}
}

// startUI serves the Web UI on addr (host:port), talking to the frontend,
// and returns once its root page answers 200.
func startUI(ctx context.Context, addr, frontend, namespace string, logger *slog.Logger) (*uiServer, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("devserver: Web UI port %q: %w", portStr, err)
	}
	u := &uiServer{
		srv: uiserver.NewServer(uiopts.WithConfigProvider(&uiconfig.Config{
			Host:                host,
			Port:                port,
			TemporalGRPCAddress: frontend,
			EnableUI:            true,
			DefaultNamespace:    namespace,
			// Plain http on loopback: the CSRF cookie must not require TLS.
			CORS:     uiconfig.CORS{CookieInsecure: true},
			HideLogs: true,
			// No calls out to the internet from a local demo.
			DisableNewsFetch:   true,
			NotifyOnNewVersion: false,
		})),
		url:  "http://" + addr,
		done: make(chan struct{}),
	}
	go func() {
		defer close(u.done)
		// Start blocks until stop; it returns nil once closed.
		if err := u.srv.Start(); err != nil {
			logger.Error("devserver: Web UI stopped", "err", err)
		}
	}()
	if err := waitHTTP200(ctx, u.url+"/"); err != nil {
		u.stop()
		return nil, fmt.Errorf("devserver: Web UI at %s: %w", u.url, err)
	}
	return u, nil
}

func (u *uiServer) stop() {
	u.srv.Stop()
	select {
	case <-u.done:
	case <-time.After(5 * time.Second):
	}
}

// waitHTTP200 polls url until it answers 200 or ctx ends.
func waitHTTP200(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
