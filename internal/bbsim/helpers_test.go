package bbsim

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// fixture is one test's real scheduler DB (Buildbot's tables plus
// bbb_tasks) and RabbitMQ vhost with exchange/build declared.
type fixture struct {
	db        *schedulerdb.DB
	dbURL     string
	pub       *pulse.Publisher
	rabbitURL string
}

func newFixture(t *testing.T, driver string) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var url string
	if driver == "mysql" {
		url = testenv.MariaDBURL(t)
	} else {
		url = testenv.SQLiteURL(t)
	}
	db, err := schedulerdb.Open(ctx, url)
	if err != nil {
		t.Fatalf("open scheduler DB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureBridgeTable(ctx); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{db: db, dbURL: url, rabbitURL: testenv.RabbitURL(t)}
	fx.pub, err = pulse.DialPublisher(ctx, fx.rabbitURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.pub.Close() })
	// Declared up front so that consumers can bind before a Sim starts.
	if err := fx.pub.DeclareTopicExchange(ctx, "exchange/build"); err != nil {
		t.Fatal(err)
	}
	return fx
}

// bothDBs runs f on MariaDB and on SQLite, in parallel.
func bothDBs(t *testing.T, f func(t *testing.T, fx *fixture)) {
	for _, driver := range []string{"mysql", "sqlite"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			f(t, newFixture(t, driver))
		})
	}
}

type testLogWriter struct {
	t  *testing.T
	mu sync.Mutex
	on bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// startSim starts a Sim on the fixture with test timings; opts may set
// anything else, DB included (another way to the fixture's database). It is
// closed when the test ends.
func (fx *fixture) startSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	if opts.DB == nil {
		opts.DB = fx.db.SQL()
	}
	opts.Driver = fx.db.Driver()
	opts.Publisher = fx.pub
	if opts.PollInterval == 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	w := &testLogWriter{t: t, on: true}
	opts.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		w.mu.Lock()
		w.on = false
		w.mu.Unlock()
	})
	return s
}

// inject creates a BuildRequest the way the bridge does.
func (fx *fixture) inject(t *testing.T, taskID, builder, branch string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := fx.db.InjectBuildRequest(ctx, schedulerdb.Injection{
		TaskID:      taskID,
		BuilderName: builder,
		Sourcestamp: schedulerdb.Sourcestamp{
			Branch:     branch,
			Revision:   "abcdef123456",
			Repository: "https://hg.mozilla.org/" + branch,
			Project:    "",
		},
		Properties:  []schedulerdb.Property{{Name: "product", Value: "firefox"}},
		SubmittedAt: time.Now().Add(-time.Minute),
	})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	return res.BuildRequestID
}

// requestRow is a buildrequests row as a user would look at it.
type requestRow struct {
	complete    int
	results     sql.NullInt64
	claimedAt   int64
	claimedBy   sql.NullString
	incarnation sql.NullString
	completeAt  sql.NullInt64
	buildsetID  int64
}

func (fx *fixture) request(t *testing.T, brid int64) requestRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r requestRow
	err := fx.db.SQL().QueryRowContext(ctx, `SELECT complete, results, claimed_at, claimed_by_name,
claimed_by_incarnation, complete_at, buildsetid FROM buildrequests WHERE id = ?`, brid).Scan(
		&r.complete, &r.results, &r.claimedAt, &r.claimedBy, &r.incarnation, &r.completeAt, &r.buildsetID)
	if err != nil {
		t.Fatalf("read buildrequest %d: %v", brid, err)
	}
	return r
}

type buildsRow struct {
	id, number, start int64
	finish            sql.NullInt64
}

func (fx *fixture) buildsOf(t *testing.T, brid int64) []buildsRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := fx.db.SQL().QueryContext(ctx,
		`SELECT id, number, start_time, finish_time FROM builds WHERE brid = ? ORDER BY id`, brid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []buildsRow
	for rows.Next() {
		var b buildsRow
		if err := rows.Scan(&b.id, &b.number, &b.start, &b.finish); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// message is a received build event.
type message struct {
	Key  string
	Body eventBody
	Raw  []byte
}

type eventBody struct {
	Payload struct {
		Build struct {
			BuilderName string    `json:"builderName"`
			Number      int       `json:"number"`
			Properties  [][3]any  `json:"properties"`
			Results     *int      `json:"results"`
			Times       []*string `json:"times"`
			Slave       string    `json:"slave"`
			Reason      string    `json:"reason"`
			SourceStamp struct {
				Branch   *string `json:"branch"`
				Revision *string `json:"revision"`
			} `json:"sourceStamp"`
		} `json:"build"`
		RequestIDs []int64 `json:"request_ids"`
		Results    *int    `json:"results"`
	} `json:"payload"`
	Meta map[string]any `json:"_meta"`
}

// prop returns a property's value and source from the build's list.
func (b eventBody) prop(name string) (value any, source string, ok bool) {
	for _, p := range b.Payload.Build.Properties {
		if p[0] == name {
			src, _ := p[2].(string)
			return p[1], src, true
		}
	}
	return nil, "", false
}

// consumer is a test's own queue on exchange/build.
type consumer struct {
	msgs chan message
}

func (fx *fixture) consume(t *testing.T, keys ...string) *consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pulse.Dial(ctx, fx.rabbitURL, "bbsim-test-consumer")
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
	for _, k := range keys {
		if err := ch.QueueBind(q.Name, k, "exchange/build", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &consumer{msgs: make(chan message, 1000)}
	go func() {
		for d := range deliveries {
			c.deliver(t, d)
		}
	}()
	return c
}

func (c *consumer) deliver(t *testing.T, d amqp.Delivery) {
	m := message{Key: d.RoutingKey, Raw: d.Body}
	if err := json.Unmarshal(d.Body, &m.Body); err != nil {
		m.Key = "undecodable:" + m.Key
	}
	c.msgs <- m
}

// next returns the next message, failing the test after timeout.
func (c *consumer) next(t *testing.T, timeout time.Duration) message {
	t.Helper()
	select {
	case m := <-c.msgs:
		if strings.HasPrefix(m.Key, "undecodable:") {
			t.Fatalf("message with key %s is not the expected JSON: %s", m.Key, m.Raw)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return message{}
	}
}

// quiet fails the test if a message arrives within d.
func (c *consumer) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message %s: %s", m.Key, m.Raw)
	case <-time.After(d):
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keyOf(builderDir string, number int, kind string) string {
	return fmt.Sprintf("build.%s.%d.%s", builderDir, number, kind)
}
