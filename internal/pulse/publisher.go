// Package pulse speaks AMQP 0-9-1 to RabbitMQ the way Mozilla's Pulse is used:
// topic exchanges, persistent JSON messages, durable named queues.
package pulse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// dialTimeout bounds a single connection attempt; a broker that does not
// answer within it is treated as down.
const dialTimeout = 10 * time.Second

// PublisherConnectionName is how a Publisher's connection is named in the
// broker's connection list.
const PublisherConnectionName = "bbb-publisher"

// Publisher publishes persistent JSON messages and waits for the broker's
// confirm, so a message it reports as sent survives a broker restart. It
// redials after the connection is lost; it is safe for concurrent use.
type Publisher struct {
	url string

	mu        sync.Mutex
	conn      *amqp.Connection
	ch        *amqp.Channel
	exchanges []string // re-declared after a redial
	closed    bool
}

// DialPublisher connects to the broker at url (amqp:// or amqps://).
func DialPublisher(ctx context.Context, url string) (*Publisher, error) {
	p := &Publisher{url: url}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.connectLocked(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// RedactURL returns an AMQP URL with its password replaced, for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable AMQP URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Dial opens an AMQP connection with a bounded connect time, named name in
// the broker's connection list (so operators see who is who). Errors name the
// broker without its password.
func Dial(ctx context.Context, rawURL, name string) (*amqp.Connection, error) {
	return DialTLS(ctx, rawURL, name, nil)
}

// DialTLS is Dial with the TLS settings for an amqps:// URL (pulse_tls: a
// CA to trust, a client certificate); nil uses the system's roots.
func DialTLS(ctx context.Context, rawURL, name string, tlsConfig *tls.Config) (*amqp.Connection, error) {
	deadline := time.Now().Add(dialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat:       10 * time.Second,
		Dial:            amqp.DefaultDial(time.Until(deadline)),
		Properties:      props,
		TLSClientConfig: tlsConfig,
	})
	if err != nil {
		// amqp091's errors can quote the URL; never let the password out.
		return nil, fmt.Errorf("pulse: connect to %s: %w", RedactURL(rawURL), scrub(err, rawURL))
	}
	return conn, nil
}

func scrub(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return errors.New("connection failed")
	}
	if pw, has := u.User.Password(); has && pw != "" {
		if strings.Contains(err.Error(), pw) {
			return errors.New("connection failed (details withheld: they contained the password)")
		}
	}
	return err
}

func (p *Publisher) connectLocked(ctx context.Context) error {
	conn, err := Dial(ctx, p.url, PublisherConnectionName)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return fmt.Errorf("pulse: open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return fmt.Errorf("pulse: enable publisher confirms: %w", err)
	}
	for _, name := range p.exchanges {
		if err := declareTopic(ch, name); err != nil {
			conn.Close()
			return err
		}
	}
	p.conn, p.ch = conn, ch
	return nil
}

func declareTopic(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, "topic", true, false, false, false, nil); err != nil {
		return fmt.Errorf("pulse: declare exchange %q: %w", name, err)
	}
	return nil
}

// DeclareTopicExchange declares a durable topic exchange. Only the owner of an
// exchange (the stand-ins, playing Taskcluster and Buildbot) declares it; the
// bridge itself binds to exchanges passively.
func (p *Publisher) DeclareTopicExchange(ctx context.Context, name string) error {
	return p.withChannel(ctx, func(ch *amqp.Channel) (func() error, error) {
		if err := declareTopic(ch, name); err != nil {
			return nil, err
		}
		p.exchanges = append(p.exchanges, name)
		return nil, nil
	})
}

// Publish sends body to exchange with routingKey as a persistent
// application/json message and returns once the broker confirmed it. After a
// lost connection it redials and tries again until ctx ends. Concurrent
// calls share the channel and wait for their confirms side by side, so the
// broker's fsync is not paid once per message in turn.
func (p *Publisher) Publish(ctx context.Context, exchange, routingKey string, body []byte) error {
	return p.withChannel(ctx, func(ch *amqp.Channel) (func() error, error) {
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, false, false, amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Timestamp:    time.Now(),
			Body:         body,
		})
		if err != nil {
			return nil, err
		}
		return func() error {
			ok, err := conf.WaitContext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				// Also what a channel closed before the confirm reads as.
				return fmt.Errorf("pulse: broker nacked message to %s %s", exchange, routingKey)
			}
			return nil
		}, nil
	})
}

// withChannel runs f on the current channel under the lock, then the wait
// it returns (if any) without it; it redials with backoff when the
// connection is gone and tries again.
func (p *Publisher) withChannel(ctx context.Context, f func(*amqp.Channel) (func() error, error)) error {
	backoff := 100 * time.Millisecond
	for {
		ch, wait, err := p.attempt(ctx, f)
		suspect := true
		if err == nil && wait != nil {
			// A nack on a healthy channel says nothing about the
			// connection, which other calls may be waiting on.
			err, suspect = wait(), false
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, errClosed) {
			return err
		}
		if isPermanent(err) || ctx.Err() != nil {
			// The broker closes the channel on these; the next call
			// reopens it.
			p.drop(ch, false)
			return fmt.Errorf("pulse: %w", err)
		}
		// The connection or channel broke under us (or the broker nacked):
		// reconnect if it is gone, and retry.
		p.drop(ch, suspect)
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("pulse: %w", err)
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

var errClosed = errors.New("pulse: publisher closed")

// attempt makes sure there is a channel and runs f on it, under the lock.
func (p *Publisher) attempt(ctx context.Context, f func(*amqp.Channel) (func() error, error)) (*amqp.Channel, func() error, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errClosed
	}
	if p.ch == nil || p.ch.IsClosed() {
		if p.conn != nil {
			p.conn.Close()
			p.conn, p.ch = nil, nil
		}
		if err := p.connectLocked(ctx); err != nil {
			return nil, nil, err
		}
	}
	wait, err := f(p.ch)
	return p.ch, wait, err
}

// drop forgets ch if it is still the current channel and closed, or, with
// always, even while open (its connection is suspect). A newer channel
// opened by another call is left alone.
func (p *Publisher) drop(ch *amqp.Channel, always bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch == nil || ch != p.ch {
		return
	}
	if !always && !ch.IsClosed() {
		return
	}
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

// isPermanent tells a refusal that redialling cannot cure (no such exchange,
// no rights, a declare that clashes) from a lost connection.
func isPermanent(err error) bool {
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return false
	}
	switch aerr.Code {
	case amqp.AccessRefused, amqp.NotFound, amqp.PreconditionFailed, amqp.NotAllowed, amqp.NotImplemented:
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Close closes the connection; later calls fail.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn != nil {
		err := p.conn.Close()
		p.conn, p.ch = nil, nil
		return err
	}
	return nil
}
