package faults

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The faults that stop MariaDB and RabbitMQ rely on both coming back with
// what they held: a table's rows, a durable queue's persistent messages.
// The servers are the run's own (own ports, data, node name), so this
// test, like the command, leaves the machine's shared services alone.
func TestDedicatedServicesSurviveARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	t0 := time.Now()
	m, err := StartMariaDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	t.Logf("MariaDB installed and started in %s", time.Since(t0).Round(100*time.Millisecond))
	name, err := m.CreateDatabase(ctx, "bbbfaultstest_")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/%s?timeout=5s", m.Addr(), name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v INT) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Error("MariaDB still answers after Stop")
	}
	t1 := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("MariaDB restarted in %s", time.Since(t1).Round(100*time.Millisecond))
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Errorf("after the restart: %d, %v; want the row 42", v, err)
	}
	if err := m.DropDatabase(name); err != nil {
		t.Error(err)
	}

	t0 = time.Now()
	r, err := StartRabbit(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	t.Logf("RabbitMQ started in %s", time.Since(t0).Round(100*time.Millisecond))
	vhost, err := r.CreateVhost(ctx, "bbbfaultstest-")
	if err != nil {
		t.Fatal(err)
	}
	publish := func() {
		conn, err := amqp.Dial(r.URL(vhost))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare("kept", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "kept", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("meanwhile")})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := conf.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish not confirmed: %v", err)
		}
	}
	publish()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	t1 = time.Now()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("RabbitMQ restarted in %s", time.Since(t1).Round(100*time.Millisecond))
	var qs []QueueDepth
	for range 30 {
		if qs, err = r.Queues(ctx, vhost); err == nil && len(qs) == 1 && qs[0].Ready == 1 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(qs) != 1 || qs[0].Name != "kept" || qs[0].Ready != 1 {
		t.Errorf("after the restart the vhost holds %+v (%v); want queue kept with its 1 message", qs, err)
	}
	if err := r.DeleteVhost(vhost); err != nil {
		t.Error(err)
	}
}
