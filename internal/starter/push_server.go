package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/buildbotrest"
	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// servePushes takes a modern Buildbot master's pushes on
// buildbot.events_listen until stop is called. A request event carries no
// properties, so its task is read from the REST API.
func servePushes(cfg *config.Buildbot, router *Router, log *slog.Logger) (stop func(), err error) {
	api, err := buildbotrest.New(buildbotrest.Config{APIURL: cfg.APIURL, User: cfg.User, Password: string(cfg.Password)})
	if err != nil {
		return nil, fmt.Errorf("buildbot.api_url: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(PushPath, router.PushHandler(PushOptions{
		Password: string(cfg.EventsPassword),
		TaskOf:   taskOfRequest(api),
	}))
	ln, err := net.Listen("tcp", cfg.EventsListen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (buildbot.events_listen): %w", cfg.EventsListen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("starter: push receiver stopped", "err", err)
		}
	}()
	log.Info("starter: taking Buildbot's pushes", "addr", ln.Addr().String(), "path", PushPath, "buildbot", cfg.APIURL)
	return func() {
		// Pushes in flight finish: each is a signal the master will not
		// send again.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// taskOfRequest reads a request's taskId property.
func taskOfRequest(api *buildbotrest.Client) func(ctx context.Context, brid int64) (string, error) {
	return func(ctx context.Context, brid int64) (string, error) {
		br, err := api.BuildRequestProperties(ctx, brid)
		if errors.Is(err, buildbotrest.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return buildbotrest.TaskID(br.Properties), nil
	}
}
