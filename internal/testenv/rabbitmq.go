package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/rabbitapi"
)

func rabbitHostPort() string {
	if v := os.Getenv("BBB_TEST_RABBIT"); v != "" {
		return v
	}
	return "127.0.0.1:5672"
}

func rabbitAPI() string {
	if v := os.Getenv("BBB_TEST_RABBIT_API"); v != "" {
		return strings.TrimSuffix(v, "/")
	}
	return "http://127.0.0.1:15672/api"
}

// RabbitURL creates a fresh vhost on the real RabbitMQ broker, grants guest
// full rights on it, and returns its AMQP URL. Exchanges and queues can then
// carry their real names without two tests seeing each other's messages.
// The vhost, and everything in it, is deleted when the test ends.
func RabbitURL(t testing.TB) string {
	t.Helper()
	vhost := UniqueName("bbbtest-")
	t.Cleanup(func() {
		if err := rabbitapi.DeleteVHost(context.Background(), rabbitAPI(), vhost); err != nil {
			t.Logf("testenv: delete vhost %s: %v", vhost, err)
		}
	})
	if err := rabbitapi.CreateVHost(context.Background(), rabbitAPI(), vhost); err != nil {
		t.Fatalf("testenv: RabbitMQ: %v (is RabbitMQ with the management plugin running? .ci/run starts it)", err)
	}
	return fmt.Sprintf("amqp://guest:guest@%s/%s", rabbitHostPort(), url.PathEscape(vhost))
}

// WaitForConsumers waits until queue on the vhost of amqpURL has at least n
// consumers, i.e. a consumer process has declared, bound and subscribed to
// it, so messages published from now on reach it.
func WaitForConsumers(t testing.TB, amqpURL, queue string, n int, timeout time.Duration) {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	vhost, _ = url.PathUnescape(vhost)
	path := rabbitAPI() + "/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(queue)
	deadline := time.Now().Add(timeout)
	for {
		var q struct {
			Consumers int `json:"consumers"`
		}
		if err := rabbitGet(path, &q); err == nil && q.Consumers >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: queue %q has fewer than %d consumers after %s", queue, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rabbitGet(fullURL string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fullURL, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", fullURL, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
