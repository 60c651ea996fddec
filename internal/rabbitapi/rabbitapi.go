// Package rabbitapi calls RabbitMQ's management HTTP API as guest: the
// tests, the demo, the benchmark and the fault matrix each work in a vhost
// of their own, which only the API can create.
package rabbitapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is the API's 404 (a vhost or queue that does not exist).
var ErrNotFound = errors.New("not found")

// callTimeout bounds one call when ctx allows longer.
const callTimeout = 30 * time.Second

// Call sends one request to the API at base (http://host:15672/api) and
// decodes a JSON answer into out unless out is nil.
func Call(ctx context.Context, base, method, path, body string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s %s: %w", method, path, ErrNotFound)
	}
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// CreateVHost creates vhost (a no-op if it exists) and lets guest
// configure, write and read everything in it.
func CreateVHost(ctx context.Context, base, vhost string) error {
	if err := Call(ctx, base, http.MethodPut, "/vhosts/"+url.PathEscape(vhost), "", nil); err != nil {
		return fmt.Errorf("create vhost %s: %w", vhost, err)
	}
	perms := `{"configure":".*","write":".*","read":".*"}`
	if err := Call(ctx, base, http.MethodPut, "/permissions/"+url.PathEscape(vhost)+"/guest", perms, nil); err != nil {
		return fmt.Errorf("grant guest on vhost %s: %w", vhost, err)
	}
	return nil
}

// DeleteVHost deletes vhost and everything it holds.
func DeleteVHost(ctx context.Context, base, vhost string) error {
	return Call(ctx, base, http.MethodDelete, "/vhosts/"+url.PathEscape(vhost), "", nil)
}
