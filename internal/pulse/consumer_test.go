package pulse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The names an operator would find on the broker for a bridge configured
// with pulse_queue_basename "queue/bbb-test", the real queue exchange
// prefix, and provisioner/workerType "buildbot-bridge".
const (
	queueBase        = "queue/bbb-test"
	tcPendingEx      = "exchange/taskcluster-queue/v1/task-pending"
	tcExceptionEx    = "exchange/taskcluster-queue/v1/task-exception"
	pendingQueue     = "queue/bbb-test/task-pending"
	deadLetterQueue  = "queue/bbb-test/dead-letter"
	ourTaskKey       = "primary.fN1SbArXTPSVFNUvaOlinQ.0._._.buildbot-bridge.buildbot-bridge.-.fN1SbArXTPSVFNUvaOlinQ._"
	otherWorkerKey   = "primary.c2eTWLkLQ_6CW6kBtVxTrw.0._._.buildbot-bridge.other-worker.-.c2eTWLkLQ_6CW6kBtVxTrw._"
	otherProvisioner = "primary.Ew3Tb9D0S3y1cSjKaR6HYw.0._._.aws-provisioner-v1.buildbot-bridge.-.Ew3Tb9D0S3y1cSjKaR6HYw._"
)

func bridgeBindings() pulse.BridgeBindings {
	return pulse.Bindings(queueBase, "exchange/taskcluster-queue/v1/", "buildbot-bridge", "buildbot-bridge", "exchange/build")
}

func TestBindingsNamesMatchTheOriginalBridge(t *testing.T) {
	// The original config wrote the basename without the trailing slash.
	for _, tcBase := range []string{"exchange/taskcluster-queue/v1", "exchange/taskcluster-queue/v1/"} {
		b := pulse.Bindings("queue/bbb/prod", tcBase, "buildbot-bridge", "buildbot-bridge", "")
		want := pulse.BridgeBindings{
			TaskPending:     pulse.Binding{Queue: "queue/bbb/prod/task-pending", Exchange: "exchange/taskcluster-queue/v1/task-pending", RoutingKey: "*.*.*.*.*.buildbot-bridge.buildbot-bridge.#"},
			TaskException:   pulse.Binding{Queue: "queue/bbb/prod/task-exception", Exchange: "exchange/taskcluster-queue/v1/task-exception", RoutingKey: "*.*.*.*.*.buildbot-bridge.buildbot-bridge.#"},
			Started:         pulse.Binding{Queue: "queue/bbb/prod/started", Exchange: "exchange/build", RoutingKey: "build.*.*.started"},
			LogUploaded:     pulse.Binding{Queue: "queue/bbb/prod/log_uploaded", Exchange: "exchange/build", RoutingKey: "build.*.*.log_uploaded"},
			DeadLetterQueue: "queue/bbb/prod/dead-letter",
		}
		if b != want {
			t.Errorf("basename %q:\n got %+v\nwant %+v", tcBase, b, want)
		}
	}
}

// recorder is a handler that reports every message it is given and answers
// with whatever answer returns.
type recorder struct {
	got    chan pulse.Message
	answer func(m pulse.Message) error
}

func newRecorder(answer func(pulse.Message) error) *recorder {
	return &recorder{got: make(chan pulse.Message, 256), answer: answer}
}

func (r *recorder) handle(_ context.Context, m pulse.Message) error {
	r.got <- m
	if r.answer == nil {
		return nil
	}
	return r.answer(m)
}

func (r *recorder) next(t *testing.T) pulse.Message {
	t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("handler got no message within 20s")
		return pulse.Message{}
	}
}

// none fails if the handler is given a message within d.
func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.got:
		t.Fatalf("unexpected message on %s: key %q body %s", m.Queue, m.RoutingKey, m.Body)
	case <-time.After(d):
	}
}

func quickOptions(u string) pulse.ConsumerOptions {
	return pulse.ConsumerOptions{
		URL:               u,
		DeadLetterQueue:   deadLetterQueue,
		RetryDelay:        50 * time.Millisecond,
		MaxRetryDelay:     200 * time.Millisecond,
		ReconnectDelay:    100 * time.Millisecond,
		MaxReconnectDelay: time.Second,
		HandlerTimeout:    10 * time.Second,
	}
}

// running starts c and returns a stop function that ends it and waits for
// Run to return, as a SIGTERM would.
func running(t *testing.T, c *pulse.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitReady(t *testing.T, c *pulse.Consumer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("consumer not consuming within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func publisher(t *testing.T, u string, exchanges ...string) *pulse.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := pulse.DialPublisher(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, ex := range exchanges {
		if err := p.DeclareTopicExchange(ctx, ex); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func publish(t *testing.T, p *pulse.Publisher, exchange, key, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Publish(ctx, exchange, key, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// queueDepth is the number of ready messages in queue, read with a passive
// declare on its own connection (real-time, unlike the management stats).
func queueDepth(t *testing.T, u, queue string) int {
	t.Helper()
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue %q: %v", queue, err)
	}
	return q.Messages
}

func vhostOf(t *testing.T, u string) string {
	t.Helper()
	v, err := url.PathUnescape(strings.TrimPrefix(mustParse(t, u).Path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pendingConsumer(t *testing.T, opts pulse.ConsumerOptions, h pulse.Handler) *pulse.Consumer {
	t.Helper()
	c, err := pulse.NewConsumer(opts, pulse.Subscription{Binding: bridgeBindings().TaskPending, Handle: h})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsumerReceivesOnlyOurWorkerType(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx, tcExceptionEx)
	b := bridgeBindings()
	pending, exception := newRecorder(nil), newRecorder(nil)
	c, err := pulse.NewConsumer(quickOptions(u),
		pulse.Subscription{Binding: b.TaskPending, Handle: pending.handle},
		pulse.Subscription{Binding: b.TaskException, Handle: exception.handle})
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, c)
	waitReady(t, c)

	// Published first: if they were routed to our queue they would arrive
	// before the matching message.
	publish(t, p, tcPendingEx, otherWorkerKey, `{"n":"other worker type"}`)
	publish(t, p, tcPendingEx, otherProvisioner, `{"n":"other provisioner"}`)
	publish(t, p, tcPendingEx, ourTaskKey, `{"n":"ours"}`)
	publish(t, p, tcExceptionEx, ourTaskKey, `{"n":"our exception"}`)

	m := pending.next(t)
	if string(m.Body) != `{"n":"ours"}` || m.Queue != pendingQueue || m.Exchange != tcPendingEx || m.RoutingKey != ourTaskKey {
		t.Errorf("task-pending handler got queue %q exchange %q key %q body %s", m.Queue, m.Exchange, m.RoutingKey, m.Body)
	}
	e := exception.next(t)
	if string(e.Body) != `{"n":"our exception"}` || e.Queue != "queue/bbb-test/task-exception" || e.Exchange != tcExceptionEx {
		t.Errorf("task-exception handler got queue %q exchange %q body %s", e.Queue, e.Exchange, e.Body)
	}
	pending.none(t, 500*time.Millisecond)
	exception.none(t, 100*time.Millisecond)

	// Acknowledged: nothing comes back to the queue once the consumer is gone.
	stop()
	if n := queueDepth(t, u, pendingQueue); n != 0 {
		t.Errorf("%d messages left in %s after the handler succeeded", n, pendingQueue)
	}
}

func TestConsumerBindsBuildbotEvents(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, "exchange/build")
	b := bridgeBindings()
	started, logs := newRecorder(nil), newRecorder(nil)
	c, err := pulse.NewConsumer(quickOptions(u),
		pulse.Subscription{Binding: b.Started, Handle: started.handle},
		pulse.Subscription{Binding: b.LogUploaded, Handle: logs.handle})
	if err != nil {
		t.Fatal(err)
	}
	running(t, c)
	waitReady(t, c)

	publish(t, p, "exchange/build", "build.WINNT_5_2_mozilla-beta_build.42.finished", `finished`)
	publish(t, p, "exchange/build", "build.WINNT_5_2_mozilla-beta_build.42.started", `started`)
	publish(t, p, "exchange/build", "build.WINNT_5_2_mozilla-beta_build.42.log_uploaded", `log_uploaded`)

	if m := started.next(t); string(m.Body) != "started" || m.Queue != "queue/bbb-test/started" {
		t.Errorf("started handler got %s from %s", m.Body, m.Queue)
	}
	if m := logs.next(t); string(m.Body) != "log_uploaded" || m.Queue != "queue/bbb-test/log_uploaded" {
		t.Errorf("log_uploaded handler got %s from %s", m.Body, m.Queue)
	}
	started.none(t, 300*time.Millisecond)
	logs.none(t, 100*time.Millisecond)
}

func TestTransientErrorRedeliversTheMessage(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	var mu sync.Mutex
	calls := 0
	rec := newRecorder(func(pulse.Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			return errors.New("temporal: connection refused")
		}
		return nil
	})
	c := pendingConsumer(t, quickOptions(u), rec.handle)
	stop := running(t, c)
	waitReady(t, c)

	publish(t, p, tcPendingEx, ourTaskKey, `{"attempt":"same"}`)
	first := rec.next(t)
	second := rec.next(t)
	third := rec.next(t)
	if first.Redelivered || !second.Redelivered || !third.Redelivered {
		t.Errorf("redelivered flags %v %v %v, want false true true", first.Redelivered, second.Redelivered, third.Redelivered)
	}
	if string(third.Body) != `{"attempt":"same"}` {
		t.Errorf("redelivered body %s", third.Body)
	}
	rec.none(t, 500*time.Millisecond)
	stop()
	if n := queueDepth(t, u, pendingQueue); n != 0 {
		t.Errorf("%d messages left after the third attempt succeeded", n)
	}
	if n := queueDepth(t, u, deadLetterQueue); n != 0 {
		t.Errorf("a transient failure was dead-lettered (%d messages)", n)
	}
}

func TestPoisonMessageGoesToDeadLetterQueue(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	var logs bytes.Buffer
	var logMu sync.Mutex
	opts := quickOptions(u)
	opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	rec := newRecorder(func(m pulse.Message) error {
		if string(m.Body) == "not json" {
			return pulse.Poison(errors.New("pulsemsg: task-pending: not a valid message"))
		}
		return nil
	})
	c := pendingConsumer(t, opts, rec.handle)
	stop := running(t, c)
	waitReady(t, c)

	publish(t, p, tcPendingEx, ourTaskKey, "not json")
	publish(t, p, tcPendingEx, ourTaskKey, `{"good":true}`)
	if m := rec.next(t); string(m.Body) != "not json" {
		t.Fatalf("first message %s", m.Body)
	}
	if m := rec.next(t); string(m.Body) != `{"good":true}` {
		t.Fatalf("the message after the poison one was not processed; got %s", m.Body)
	}
	rec.none(t, 300*time.Millisecond)
	stop()

	// Read the dead-letter queue back, as an operator would.
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(deadLetterQueue, true)
	if err != nil || !ok {
		t.Fatalf("nothing in %s (err %v)", deadLetterQueue, err)
	}
	if string(d.Body) != "not json" {
		t.Errorf("dead-lettered body %q", d.Body)
	}
	if d.DeliveryMode != amqp.Persistent || d.ContentType != "application/json" {
		t.Errorf("dead letter delivery mode %d content type %q", d.DeliveryMode, d.ContentType)
	}
	wantHeaders := map[string]string{
		pulse.HeaderOriginalExchange:   tcPendingEx,
		pulse.HeaderOriginalRoutingKey: ourTaskKey,
		pulse.HeaderOriginalQueue:      pendingQueue,
	}
	for k, want := range wantHeaders {
		if got, _ := d.Headers[k].(string); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if reason, _ := d.Headers[pulse.HeaderPoisonReason].(string); !strings.Contains(reason, "not a valid message") {
		t.Errorf("reason header %q", reason)
	}
	if _, more, _ := ch.Get(deadLetterQueue, true); more {
		t.Error("the good message was dead-lettered too")
	}
	if n := queueDepth(t, u, pendingQueue); n != 0 {
		t.Errorf("%d messages left in %s", n, pendingQueue)
	}

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, ourTaskKey) || !strings.Contains(out, tcPendingEx) {
		t.Errorf("the poison log line does not name the routing key and exchange:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		// One routing_key field, the message's own: the binding's pattern
		// under the same key would make log searches find the wrong one.
		if strings.Contains(line, "poison message moved") &&
			(strings.Count(line, " routing_key=") != 1 || !strings.Contains(line, " routing_key="+ourTaskKey)) {
			t.Errorf("the poison log line should carry routing_key=%s once:\n%s", ourTaskKey, line)
		}
	}
	if strings.Contains(out, ":guest@") {
		t.Errorf("logs contain the broker password:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestHandlerPanicIsPoisonNotACrash(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	rec := newRecorder(func(m pulse.Message) error {
		if string(m.Body) == "boom" {
			panic("handler bug")
		}
		return nil
	})
	c := pendingConsumer(t, quickOptions(u), rec.handle)
	stop := running(t, c)
	waitReady(t, c)
	publish(t, p, tcPendingEx, ourTaskKey, "boom")
	publish(t, p, tcPendingEx, ourTaskKey, "fine")
	rec.next(t)
	if m := rec.next(t); string(m.Body) != "fine" {
		t.Fatalf("got %s after the panic", m.Body)
	}
	stop()
	if n := queueDepth(t, u, deadLetterQueue); n != 1 {
		t.Errorf("%d messages in the dead-letter queue, want the one that panicked", n)
	}
}

func TestConsumerReconnectsAfterBrokerClosesConnection(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	rec := newRecorder(nil)
	opts := quickOptions(u)
	opts.ConnectionName = "bbb-starter-reconnect-test"
	c := pendingConsumer(t, opts, rec.handle)
	running(t, c)
	waitReady(t, c)
	publish(t, p, tcPendingEx, ourTaskKey, "before")
	if m := rec.next(t); string(m.Body) != "before" {
		t.Fatalf("got %s", m.Body)
	}

	closeConnectionsNamed(t, vhostOf(t, u), opts.ConnectionName)
	// Published while the consumer may be away: the durable queue keeps it.
	publish(t, p, tcPendingEx, ourTaskKey, "during")
	if m := rec.next(t); string(m.Body) != "during" {
		t.Fatalf("got %s after reconnecting", m.Body)
	}
	waitReady(t, c)
	publish(t, p, tcPendingEx, ourTaskKey, "after")
	if m := rec.next(t); string(m.Body) != "after" {
		t.Fatalf("got %s", m.Body)
	}
}

func TestConsumerWaitsForMissingExchange(t *testing.T) {
	u := testenv.RabbitURL(t)
	rec := newRecorder(nil)
	var logs bytes.Buffer
	var logMu sync.Mutex
	opts := quickOptions(u)
	opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	c := pendingConsumer(t, opts, rec.handle)
	running(t, c)

	time.Sleep(time.Second)
	if c.Ready() {
		t.Fatal("consumer claims to consume from an exchange that does not exist")
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "exchange does not exist yet") || !strings.Contains(out, tcPendingEx) {
		t.Errorf("no clear log line about the missing exchange:\n%s", out)
	}

	// Taskcluster's queue starts and declares its exchange.
	p := publisher(t, u, tcPendingEx)
	waitReady(t, c)
	publish(t, p, tcPendingEx, ourTaskKey, "first")
	if m := rec.next(t); string(m.Body) != "first" {
		t.Fatalf("got %s", m.Body)
	}
}

func TestTwoConsumersHandleEachMessageOnce(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	var mu sync.Mutex
	seen := map[string]int{}
	byConsumer := [2]int{}
	handler := func(i int) pulse.Handler {
		return func(_ context.Context, m pulse.Message) error {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			seen[string(m.Body)]++
			byConsumer[i]++
			return nil
		}
	}
	var consumers [2]*pulse.Consumer
	for i := range consumers {
		opts := quickOptions(u)
		opts.Prefetch = 4
		opts.ConnectionName = fmt.Sprintf("bbb-starter-%d", i)
		consumers[i] = pendingConsumer(t, opts, handler(i))
		running(t, consumers[i])
	}
	for _, c := range consumers {
		waitReady(t, c)
	}
	const n = 60
	for i := range n {
		publish(t, p, tcPendingEx, ourTaskKey, fmt.Sprintf("m%02d", i))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		total := byConsumer[0] + byConsumer[1]
		mu.Unlock()
		if total >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if k := fmt.Sprintf("m%02d", i); seen[k] != 1 {
			t.Errorf("message %s handled %d times", k, seen[k])
		}
	}
	if byConsumer[0] == 0 || byConsumer[1] == 0 {
		t.Errorf("messages per consumer %v: the broker should share the queue", byConsumer)
	}
}

func TestShutdownFinishesInFlightHandler(t *testing.T) {
	u := testenv.RabbitURL(t)
	p := publisher(t, u, tcPendingEx)
	release := make(chan struct{})
	finished := make(chan struct{})
	rec := newRecorder(func(pulse.Message) error {
		<-release
		close(finished)
		return nil
	})
	c := pendingConsumer(t, quickOptions(u), rec.handle)
	stop := running(t, c)
	waitReady(t, c)
	publish(t, p, tcPendingEx, ourTaskKey, "slow")
	rec.next(t)

	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a handler was still running")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the handler finished")
	}
	<-finished
	if n := queueDepth(t, u, pendingQueue); n != 0 {
		t.Errorf("the in-flight message was not acknowledged before shutdown (%d left)", n)
	}
}

func TestNewConsumerRefusesIncompleteOptions(t *testing.T) {
	h := func(context.Context, pulse.Message) error { return nil }
	sub := pulse.Subscription{Binding: bridgeBindings().TaskPending, Handle: h}
	if _, err := pulse.NewConsumer(pulse.ConsumerOptions{DeadLetterQueue: deadLetterQueue}, sub); err == nil {
		t.Error("accepted no URL")
	}
	if _, err := pulse.NewConsumer(pulse.ConsumerOptions{URL: "amqp://x"}, sub); err == nil {
		t.Error("accepted no dead-letter queue")
	}
	if _, err := pulse.NewConsumer(pulse.ConsumerOptions{URL: "amqp://x", DeadLetterQueue: deadLetterQueue}); err == nil {
		t.Error("accepted no subscription")
	}
	if _, err := pulse.NewConsumer(pulse.ConsumerOptions{URL: "amqp://x", DeadLetterQueue: deadLetterQueue},
		pulse.Subscription{Binding: bridgeBindings().TaskPending}); err == nil {
		t.Error("accepted a subscription without a handler")
	}
}
