package config_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// A config pointing at the real MariaDB and RabbitMQ yields a DSN and a
// Pulse URL that connect, with pulse_user/pulse_password filled into a
// pulse_url that has no credentials of its own.
func TestLoadedConfigConnects(t *testing.T) {
	rabbit, err := url.Parse(testenv.RabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	user := rabbit.User.Username()
	password, _ := rabbit.User.Password()
	rabbit.User = nil

	c, _, err := parse(t, baseConfig(), noEnv, map[string]any{
		"buildbot_scheduler_db": testenv.MariaDBURL(t),
		"pulse_url":             rabbit.String(),
		"pulse_user":            user,
		"pulse_password":        password,
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open(c.SchedulerDB.Driver, c.SchedulerDB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatalf("scheduler DB: %v", err)
	}
	if name != c.SchedulerDB.Database {
		t.Errorf("connected to %q, want %q", name, c.SchedulerDB.Database)
	}

	conn, err := amqp.DialConfig(string(c.PulseURL), amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		t.Fatalf("dial %s: %v", c.PulseURLRedacted(), err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	// The queue the starter would declare, under its real name.
	q, err := ch.QueueDeclare(c.PulseQueueBasename+"/task-pending", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if q.Name != "queue/bbb/prod/task-pending" {
		t.Errorf("queue name %q", q.Name)
	}
}
