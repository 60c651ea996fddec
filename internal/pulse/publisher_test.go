package pulse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

func bindTestQueue(t *testing.T, amqpURL, exchange, key string) <-chan amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, key, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func receive(t *testing.T, d <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case m := <-d:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return amqp.Delivery{}
	}
}

// publisherAndQueue is a publisher on a fresh vhost that owns exchange ex,
// and a queue bound to it with key.
func publisherAndQueue(t *testing.T, ctx context.Context, ex, key string) (string, *pulse.Publisher, <-chan amqp.Delivery) {
	t.Helper()
	u := testenv.RabbitURL(t)
	p, err := pulse.DialPublisher(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.DeclareTopicExchange(ctx, ex); err != nil {
		t.Fatal(err)
	}
	return u, p, bindTestQueue(t, u, ex, key)
}

func TestPublishIsPersistentJSONOnTopicExchange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ex = "exchange/taskcluster-queue/v1/task-pending"
	_, p, d := publisherAndQueue(t, ctx, ex, "primary.#")
	body, _ := json.Marshal(map[string]any{"version": 1, "runId": 0})
	if err := p.Publish(ctx, ex, "primary.abc.0._._.prov.wt._._._", body); err != nil {
		t.Fatal(err)
	}
	m := receive(t, d)
	if m.RoutingKey != "primary.abc.0._._.prov.wt._._._" || m.Exchange != ex {
		t.Errorf("got exchange %q key %q", m.Exchange, m.RoutingKey)
	}
	if m.DeliveryMode != amqp.Persistent || m.ContentType != "application/json" {
		t.Errorf("delivery mode %d content type %q: want persistent application/json", m.DeliveryMode, m.ContentType)
	}
	if string(m.Body) != string(body) {
		t.Errorf("body %s, want %s", m.Body, body)
	}
}

// The broker dropping our connection (a restart, a proxy) must not lose the
// next message: the publisher redials and re-declares its exchanges.
func TestPublishSurvivesClosedConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ex = "exchange/build"
	u, p, d := publisherAndQueue(t, ctx, ex, "build.#")
	if err := p.Publish(ctx, ex, "build.a.1.started", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	receive(t, d)

	vhost, _ := url.PathUnescape(strings.TrimPrefix(mustParse(t, u).Path, "/"))
	closeConnectionsNamed(t, vhost, pulse.PublisherConnectionName)

	if err := p.Publish(ctx, ex, "build.a.1.log_uploaded", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("publish after the broker closed the connection: %v", err)
	}
	m := receive(t, d)
	if string(m.Body) != `{"n":2}` {
		t.Errorf("got %s", m.Body)
	}
}

func TestDialErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const secret = "Zq8-very-secret-pw-41"
	_, err := pulse.DialPublisher(ctx, "amqp://guest:"+secret+"@127.0.0.1:5672/")
	if err == nil {
		t.Fatal("dial with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error leaks the password: %v", err)
	}
	if got := pulse.RedactURL("amqps://u:" + secret + "@h:5671/v"); strings.Contains(got, secret) {
		t.Fatalf("RedactURL leaks: %s", got)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// closeConnectionsNamed closes, through the management API, the connections
// on vhost with the given client-provided name, as a broker restart would.
func closeConnectionsNamed(t *testing.T, vhost, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var found []string
	for len(found) == 0 && time.Now().Before(deadline) {
		for _, c := range listConnections(t, vhost) {
			if c.ClientProperties.ConnectionName == name {
				found = append(found, c.Name)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(found) == 0 {
		t.Fatalf("no connection named %q on vhost %s", name, vhost)
	}
	for _, n := range found {
		req, _ := http.NewRequest(http.MethodDelete, "http://127.0.0.1:15672/api/connections/"+url.PathEscape(n), nil)
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

type connInfo struct {
	Name             string `json:"name"`
	ClientProperties struct {
		ConnectionName string `json:"connection_name"`
	} `json:"client_properties"`
}

func listConnections(t *testing.T, vhost string) []connInfo {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:15672/api/vhosts/"+url.PathEscape(vhost)+"/connections", nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []connInfo
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Concurrent publishers share one channel; the broker closing the
// connection while their confirms are outstanding must not lose a message
// (a resend after an unconfirmed publish may duplicate one, which Pulse
// consumers tolerate).
func TestConcurrentPublishesSurviveClosedConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ex = "exchange/build"
	u, p, d := publisherAndQueue(t, ctx, ex, "build.#")
	vhost, _ := url.PathUnescape(strings.TrimPrefix(mustParse(t, u).Path, "/"))

	const senders, each = 16, 25
	var wg sync.WaitGroup
	var sent atomic.Int32
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`{"sender":%d,"n":%d}`, s, i)
				if err := p.Publish(ctx, ex, "build.a.1.started", []byte(body)); err != nil {
					errs <- err
					return
				}
				sent.Add(1)
			}
		}()
	}
	for sent.Load() < senders*each/4 && len(errs) == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	closeConnectionsNamed(t, vhost, pulse.PublisherConnectionName)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
	seen := map[string]bool{}
	for len(seen) < senders*each {
		seen[string(receive(t, d).Body)] = true
	}
	for s := range senders {
		for i := range each {
			if body := fmt.Sprintf(`{"sender":%d,"n":%d}`, s, i); !seen[body] {
				t.Errorf("message %s lost", body)
			}
		}
	}
}
