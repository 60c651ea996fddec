package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// allowedFetchTimeout bounds one fetch of the allowed-builders list.
const allowedFetchTimeout = 30 * time.Second

// AllowedBuilders is the allowed-builders list at allowed_builders_url: a
// JSON document whose "builders" object has the allowed builder names as
// keys. It is fetched on first use and again once it is older than the
// refresh period. When a refresh fails the previous list stays in use;
// when there has never been a list, the failure is the bridge's own outage
// and is returned as a retryable error, so a task is never called
// malformed because of it.
type AllowedBuilders struct {
	url     string
	refresh time.Duration
	http    *http.Client
	log     *slog.Logger

	mu      sync.Mutex
	names   map[string]bool
	fetched time.Time
}

// NewAllowedBuilders returns the list at rawURL, refreshed every refresh.
// A nil httpClient means one with a 30 s timeout; a nil logger means
// slog.Default().
func NewAllowedBuilders(rawURL string, refresh time.Duration, httpClient *http.Client, logger *slog.Logger) *AllowedBuilders {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: allowedFetchTimeout}
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &AllowedBuilders{url: rawURL, refresh: refresh, http: httpClient, log: logger}
}

// Allowed reports whether name is on the list.
func (l *AllowedBuilders) Allowed(ctx context.Context, name string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil || time.Since(l.fetched) >= l.refresh {
		names, err := l.fetch(ctx)
		switch {
		case err == nil:
			l.names, l.fetched = names, time.Now()
		case l.names == nil:
			return false, err
		default:
			l.log.WarnContext(ctx, "allowed builders: refresh failed, keeping the list fetched earlier",
				"fetched", l.fetched, "err", err)
		}
	}
	return l.names[name], nil
}

func (l *AllowedBuilders) fetch(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, allowedFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return nil, errors.New("allowed builders: allowed_builders_url is not a valid URL")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.http.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("allowed builders: fetch allowed_builders_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("allowed builders: fetch allowed_builders_url: %s", resp.Status)
	}
	var doc struct {
		Builders map[string]json.RawMessage `json:"builders"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("allowed builders: allowed_builders_url is not the expected JSON: %w", err)
	}
	if doc.Builders == nil {
		return nil, errors.New(`allowed builders: allowed_builders_url has no "builders" object`)
	}
	names := make(map[string]bool, len(doc.Builders))
	for n := range doc.Builders {
		names[n] = true
	}
	return names, nil
}
