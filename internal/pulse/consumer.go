package pulse

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
)

// Message is one delivery handed to a Handler.
type Message struct {
	// Queue is the bridge's queue the message was read from.
	Queue string
	// Exchange and RoutingKey are where the publisher sent it.
	Exchange    string
	RoutingKey  string
	Body        []byte
	Redelivered bool
}

// Handler processes one message. nil acknowledges it. An error made with
// Poison sends it to the dead-letter queue (then acknowledges it). Any other
// error is transient: the message is requeued after a delay and delivered
// again, to this consumer or another one on the same queue.
type Handler func(ctx context.Context, m Message) error

// Binding is one durable queue bound to one exchange with one routing key.
type Binding struct {
	// Queue is the full queue name, <pulse_queue_basename>/<what>.
	Queue string
	// Exchange belongs to its publisher; the consumer only checks that it
	// exists (a passive declare) and waits until it does.
	Exchange   string
	RoutingKey string
}

// Subscription routes the messages of one Binding to a Handler.
type Subscription struct {
	Binding
	Handle Handler
}

// ConsumerOptions configures a Consumer. URL, DeadLetterQueue and at least
// one Subscription are required; the rest have defaults.
type ConsumerOptions struct {
	// URL is the broker's amqp:// or amqps:// URL, with credentials.
	URL string
	// TLS configures an amqps:// connection (pulse_tls); nil uses the
	// system's roots.
	TLS *tls.Config
	// ConnectionName is shown in the broker's connection list.
	// Default "bbb-starter".
	ConnectionName string
	// DeadLetterQueue is <pulse_queue_basename>/dead-letter.
	DeadLetterQueue string
	// Prefetch bounds the unacknowledged messages per queue, and so the
	// handlers running at once per queue. Default 32.
	Prefetch int
	// RetryDelay is how long a message whose handler failed transiently is
	// held before it is requeued. It doubles while failures continue, up to
	// MaxRetryDelay, so an outage does not turn into a redelivery spin.
	// Defaults 1 s and 30 s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// HandlerTimeout bounds one handler call. Default 2 minutes.
	HandlerTimeout time.Duration
	// ReconnectDelay is the first wait before reconnecting or re-binding;
	// it doubles up to MaxReconnectDelay. Defaults 500 ms and 30 s.
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DefaultConsumerConnectionName names the starter's connection on the broker.
const DefaultConsumerConnectionName = "bbb-starter"

// Consumer reads the bridge's durable queues with manual acknowledgements.
// It reconnects when the broker goes away and resumes from what the durable
// queues kept meanwhile. Several Consumers, in one process or many, may read
// the same queues; the broker gives each message to one of them.
type Consumer struct {
	opts ConsumerOptions
	subs []Subscription
	log  *slog.Logger

	consuming atomic.Int32 // subscriptions currently consuming
	failures  atomic.Int32 // consecutive transient handler failures

	// recovered is closed, and replaced, when a handler succeeds after
	// failures: the dependency is back, and the deliveries held for their
	// retry delay go back to their queue at once instead of letting newer
	// messages overtake them for up to MaxRetryDelay.
	recoveredMu sync.Mutex
	recovered   chan struct{}
}

// NewConsumer checks opts and subs and returns a Consumer; nothing connects
// until Run.
func NewConsumer(opts ConsumerOptions, subs ...Subscription) (*Consumer, error) {
	if opts.URL == "" {
		return nil, errors.New("pulse: consumer needs a broker URL")
	}
	if opts.DeadLetterQueue == "" {
		return nil, errors.New("pulse: consumer needs a dead-letter queue name")
	}
	if len(subs) == 0 {
		return nil, errors.New("pulse: consumer needs at least one subscription")
	}
	for _, s := range subs {
		if s.Queue == "" || s.Exchange == "" || s.RoutingKey == "" || s.Handle == nil {
			return nil, fmt.Errorf("pulse: subscription %+v: queue, exchange, routing key and handler are all required", s.Queue)
		}
	}
	if opts.ConnectionName == "" {
		opts.ConnectionName = DefaultConsumerConnectionName
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 32
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = time.Second
	}
	if opts.MaxRetryDelay < opts.RetryDelay {
		opts.MaxRetryDelay = max(30*time.Second, opts.RetryDelay)
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 2 * time.Minute
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = 500 * time.Millisecond
	}
	if opts.MaxReconnectDelay < opts.ReconnectDelay {
		opts.MaxReconnectDelay = max(30*time.Second, opts.ReconnectDelay)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{
		opts:      opts,
		subs:      subs,
		log:       log.With("broker", RedactURL(opts.URL)),
		recovered: make(chan struct{}),
	}, nil
}

// Ready reports whether every subscription is bound and consuming.
func (c *Consumer) Ready() bool { return int(c.consuming.Load()) == len(c.subs) }

// Run consumes until ctx ends, reconnecting as often as needed. When ctx
// ends it stops taking messages, lets the handlers in flight finish and
// acknowledge, closes the connection and returns nil. Messages that were
// prefetched but not started go back to their queue.
func (c *Consumer) Run(ctx context.Context) error {
	wait := c.opts.ReconnectDelay
	for {
		conn, err := DialTLS(ctx, c.opts.URL, c.opts.ConnectionName, c.opts.TLS)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("pulse: cannot connect; retrying", "err", err, "retry_in", wait)
			if !sleepCtx(ctx, wait) {
				return nil
			}
			wait = min(wait*2, c.opts.MaxReconnectDelay)
			continue
		}
		c.log.Info("pulse: connected", "connection_name", c.opts.ConnectionName)
		began := time.Now()
		c.session(ctx, conn)
		if ctx.Err() != nil {
			return nil
		}
		// A connection that lived a while was healthy; start backing off
		// from the beginning again.
		if time.Since(began) > time.Minute {
			wait = c.opts.ReconnectDelay
		}
		c.log.Warn("pulse: connection lost; reconnecting", "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return nil
		}
		wait = min(wait*2, c.opts.MaxReconnectDelay)
	}
}

// session is one connection's worth of consuming.
type session struct {
	c    *Consumer
	conn *amqp.Connection
	dl   *deadLetter
	// stop ends on shutdown or when the connection is lost: take no more
	// messages.
	stop context.Context
	// work ends only when the connection is lost, when a handler's ack
	// could no longer reach the broker; a shutdown lets handlers finish.
	work context.Context
}

// session runs every subscription on conn until conn closes or ctx ends.
func (c *Consumer) session(ctx context.Context, conn *amqp.Connection) {
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	defer conn.Close()

	dl, err := openDeadLetter(conn, c.opts.DeadLetterQueue)
	if err != nil {
		c.log.Error("pulse: cannot set up the dead-letter queue", "queue", c.opts.DeadLetterQueue, "err", err)
		return
	}
	defer dl.close()

	stop, stopCancel := context.WithCancel(ctx)
	defer stopCancel()
	work, workCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer workCancel()
	sess := &session{c: c, conn: conn, dl: dl, stop: stop, work: work}
	var wg sync.WaitGroup
	for _, s := range c.subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess.subscribe(s)
		}()
	}
	select {
	case <-ctx.Done():
	case e := <-closed:
		if e != nil {
			c.log.Warn("pulse: broker closed the connection", "code", e.Code, "reason", e.Reason)
		}
		workCancel()
	}
	stopCancel()
	// Subscriptions stop consuming and wait for their handlers, whose
	// acknowledgements need the connection still open.
	wg.Wait()
}

// subscribe keeps one subscription consuming for as long as the connection
// lives, re-binding after a channel-level failure and waiting for a missing
// exchange to appear.
func (ss *session) subscribe(s Subscription) {
	c := ss.c
	log := c.log.With("queue", s.Queue, "exchange", s.Exchange, "binding_key", s.RoutingKey)
	wait := c.opts.ReconnectDelay
	for {
		ch, deliveries, tag, err := c.bind(ss.conn, s)
		if err != nil {
			if ss.stop.Err() != nil || ss.conn.IsClosed() {
				return
			}
			if isMissingExchange(err) {
				log.Warn("pulse: exchange does not exist yet (its publisher declares it); waiting before binding", "retry_in", wait)
			} else {
				log.Error("pulse: cannot bind queue; retrying", "err", err, "retry_in", wait)
			}
			if !sleepCtx(ss.stop, wait) {
				return
			}
			wait = min(wait*2, c.opts.MaxReconnectDelay)
			continue
		}
		wait = c.opts.ReconnectDelay
		log.Info("pulse: consuming", "prefetch", c.opts.Prefetch)
		c.consuming.Add(1)
		ss.consume(ch, deliveries, tag, s, log)
		c.consuming.Add(-1)
		ch.Close()
		if ss.stop.Err() != nil || ss.conn.IsClosed() {
			return
		}
		log.Warn("pulse: consumer stopped by the broker; binding again", "retry_in", wait)
		if !sleepCtx(ss.stop, wait) {
			return
		}
	}
}

// bind opens a channel for s, checks its exchange exists, declares and binds
// the durable queue, and starts consuming with manual acks.
func (c *Consumer) bind(conn *amqp.Connection, s Subscription) (*amqp.Channel, <-chan amqp.Delivery, string, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, "", fmt.Errorf("open channel: %w", err)
	}
	fail := func(err error) (*amqp.Channel, <-chan amqp.Delivery, string, error) {
		ch.Close()
		return nil, nil, "", err
	}
	// Passive: Pulse refuses a declare from anyone but the exchange's owner.
	if err := ch.ExchangeDeclarePassive(s.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fail(fmt.Errorf("check exchange %q: %w", s.Exchange, err))
	}
	if _, err := ch.QueueDeclare(s.Queue, true, false, false, false, nil); err != nil {
		return fail(fmt.Errorf("declare queue %q: %w", s.Queue, err))
	}
	if err := ch.QueueBind(s.Queue, s.RoutingKey, s.Exchange, false, nil); err != nil {
		return fail(fmt.Errorf("bind queue %q to %q: %w", s.Queue, s.Exchange, err))
	}
	if err := ch.Qos(c.opts.Prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("set prefetch: %w", err))
	}
	tag := consumerTag(c.opts.ConnectionName, s.Queue)
	deliveries, err := ch.Consume(s.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume from %q: %w", s.Queue, err))
	}
	return ch, deliveries, tag, nil
}

func isMissingExchange(err error) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.NotFound
}

func consumerTag(connName, queue string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tag := connName + ":" + queue + ":" + hex.EncodeToString(b)
	if len(tag) > 255 { // AMQP short string
		tag = tag[len(tag)-255:]
	}
	return tag
}

// consume hands each delivery to its own goroutine; the prefetch bounds how
// many run at once. It returns when the channel stops delivering, or on
// shutdown after cancelling the consumer, once the handlers are done.
func (ss *session) consume(ch *amqp.Channel, deliveries <-chan amqp.Delivery, tag string, s Subscription, log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ss.deliver(s, d, log)
			}()
		case <-ss.stop.Done():
			if err := ch.Cancel(tag, false); err != nil {
				log.Debug("pulse: cancel consumer", "err", err)
				return
			}
			// Deliveries already on their way were not started: give them
			// back at once rather than when the channel closes.
			for d := range deliveries {
				if err := d.Nack(false, true); err != nil {
					log.Debug("pulse: requeue on shutdown", "err", err)
				}
			}
			return
		}
	}
}

// deliver runs the handler and settles the delivery.
func (ss *session) deliver(s Subscription, d amqp.Delivery, log *slog.Logger) {
	c := ss.c
	log = log.With("routing_key", d.RoutingKey, "exchange", d.Exchange)
	err := ss.call(s, d)
	switch {
	case err == nil:
		metrics.PulseMessages.WithLabelValues(s.Queue, "acked").Inc()
		if c.failures.Swap(0) > 0 {
			c.wakeHeld()
		}
		if aerr := d.Ack(false); aerr != nil {
			// The broker will deliver it again; handlers are idempotent.
			log.Warn("pulse: ack failed; the message will be redelivered", "err", aerr)
		}
	case IsPoison(err):
		c.failures.Store(0)
		pctx, cancel := context.WithTimeout(ss.work, 30*time.Second)
		perr := ss.dl.publish(pctx, s.Queue, &d, err.Error())
		cancel()
		if perr != nil {
			log.Error("pulse: poison message could not be dead-lettered; requeueing it", "reason", err, "err", perr)
			c.requeueLater(ss.stop, d, log)
			return
		}
		metrics.PulseMessages.WithLabelValues(s.Queue, "dead_lettered").Inc()
		log.Error("pulse: poison message moved to the dead-letter queue",
			"dead_letter_queue", c.opts.DeadLetterQueue, "reason", err)
		if aerr := d.Ack(false); aerr != nil {
			log.Warn("pulse: ack of dead-lettered message failed; it will be redelivered", "err", aerr)
		}
	default:
		c.failures.Add(1)
		metrics.PulseMessages.WithLabelValues(s.Queue, "requeued").Inc()
		log.Warn("pulse: handler failed; message will be redelivered", "err", err, "redelivered", d.Redelivered)
		c.requeueLater(ss.stop, d, log)
	}
}

// call runs the handler with its own deadline, turning a panic into a
// poison error so one bad message cannot take the process down.
func (ss *session) call(s Subscription, d amqp.Delivery) (err error) {
	hctx, cancel := context.WithTimeout(ss.work, ss.c.opts.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = Poison(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return s.Handle(hctx, Message{
		Queue:       s.Queue,
		Exchange:    d.Exchange,
		RoutingKey:  d.RoutingKey,
		Body:        d.Body,
		Redelivered: d.Redelivered,
	})
}

// requeueLater holds the message for the current retry delay before
// requeueing it: a failing dependency then costs a few attempts a minute,
// not a busy loop. When stop ends it requeues at once; when another
// delivery succeeds meanwhile (the dependency is back) it requeues after
// RetryDelay at most. Held to the end of a long delay, an event would let
// the events that came after it overtake it: after a Temporal outage, the
// finish of a RETRY build reached its workflow after the finish of the
// build that replaced it.
func (c *Consumer) requeueLater(stop context.Context, d amqp.Delivery, log *slog.Logger) {
	recovered := c.recoveredSignal()
	n := min(int(c.failures.Load()), 16)
	delay := c.opts.RetryDelay
	for i := 1; i < n && delay < c.opts.MaxRetryDelay; i++ {
		delay *= 2
	}
	delay = min(delay, c.opts.MaxRetryDelay)
	// At least RetryDelay, so that a message that keeps failing while
	// others succeed is not retried on every success.
	if sleepCtx(stop, c.opts.RetryDelay) && delay > c.opts.RetryDelay {
		t := time.NewTimer(delay - c.opts.RetryDelay)
		select {
		case <-t.C:
		case <-recovered:
		case <-stop.Done():
		}
		t.Stop()
	}
	if err := d.Nack(false, true); err != nil {
		log.Debug("pulse: requeue failed; the broker requeues it when the channel closes", "err", err)
	}
}

// recoveredSignal is closed at the next success after failures.
func (c *Consumer) recoveredSignal() <-chan struct{} {
	c.recoveredMu.Lock()
	defer c.recoveredMu.Unlock()
	return c.recovered
}

func (c *Consumer) wakeHeld() {
	c.recoveredMu.Lock()
	defer c.recoveredMu.Unlock()
	close(c.recovered)
	c.recovered = make(chan struct{})
}
