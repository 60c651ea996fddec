package pulse

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Headers set on a dead-lettered message, so an operator reading the
// dead-letter queue sees where it came from and why it was refused.
const (
	HeaderOriginalExchange   = "x-original-exchange"
	HeaderOriginalRoutingKey = "x-original-routing-key"
	HeaderOriginalQueue      = "x-original-queue"
	HeaderPoisonReason       = "x-poison-reason"
)

// maxReasonLen keeps the reason header well below frame size limits.
const maxReasonLen = 2000

// deadLetter publishes poison messages to the bridge's own dead-letter queue
// through the default exchange. The bridge publishes them itself instead of
// using queue arguments (x-dead-letter-exchange), which would clash with the
// arguments of queues that already exist on Pulse.
type deadLetter struct {
	queue string

	mu sync.Mutex
	ch *amqp.Channel
}

func openDeadLetter(conn *amqp.Connection, queue string) (*deadLetter, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("pulse: open dead-letter channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("pulse: enable confirms on dead-letter channel: %w", err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		ch.Close()
		return nil, fmt.Errorf("pulse: declare dead-letter queue %q: %w", queue, err)
	}
	return &deadLetter{queue: queue, ch: ch}, nil
}

// publish stores a copy of d with its origin and reason in the headers and
// returns once the broker confirmed it.
func (dl *deadLetter) publish(ctx context.Context, queue string, d *amqp.Delivery, reason string) error {
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen] + "..."
	}
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderOriginalExchange] = d.Exchange
	headers[HeaderOriginalRoutingKey] = d.RoutingKey
	headers[HeaderOriginalQueue] = queue
	headers[HeaderPoisonReason] = reason
	ts := d.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	dl.mu.Lock()
	defer dl.mu.Unlock()
	conf, err := dl.ch.PublishWithDeferredConfirmWithContext(ctx, "", dl.queue, false, false, amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		MessageId:       d.MessageId,
		Timestamp:       ts,
		Body:            d.Body,
	})
	if err != nil {
		return fmt.Errorf("pulse: publish to dead-letter queue %q: %w", dl.queue, err)
	}
	ok, err := conf.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("pulse: confirm from dead-letter queue %q: %w", dl.queue, err)
	}
	if !ok {
		return fmt.Errorf("pulse: broker refused message for dead-letter queue %q", dl.queue)
	}
	return nil
}

func (dl *deadLetter) close() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	dl.ch.Close()
}
