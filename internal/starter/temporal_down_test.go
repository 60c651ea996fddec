package starter_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
)

// With Temporal down (stopped, crashed, or its port taken over by a
// process that drops connections), every handler must answer an error the
// consumer requeues: nil would acknowledge a message nothing signalled,
// poison would dead-letter it. The fake client elsewhere answers with the
// server's errors; here the real client meets no server at all, and its
// own errors (connection refused or reset, its deadline) are what the
// handlers see.
func TestTemporalDownRequeuesEveryEvent(t *testing.T) {
	refused, err := freeport.On("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	reset := resettingListener(t)
	for _, server := range []struct{ name, addr string }{
		{"nothing listens", refused},
		{"connections reset", reset},
	} {
		t.Run(server.name, func(t *testing.T) {
			tc, err := client.NewLazyClient(client.Options{
				HostPort:  server.addr,
				Namespace: "default",
				Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			db := sqliteDB(t)
			ours := injected(t, db, taskA)
			previous := previousBridgeRequest(t, db, taskB)
			r, err := starter.New(tc, db, starter.Options{TaskQueue: "buildbot-bridge", Timing: timing, CallTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name   string
				handle func(context.Context, pulse.Message) error
				body   []byte
			}{
				{"task-pending", r.HandleTaskPending, pendingBody(taskA, 0)},
				{"task-exception", r.HandleTaskException, exceptionBody(taskA, "canceled")},
				{"started", r.HandleStarted, startedBody(taskA, ours)},
				{"log_uploaded", r.HandleLogUploaded, logUploadedBody(0, ours)},
				{"started of a request to adopt", r.HandleStarted, startedBody(taskB, previous)},
			} {
				err := c.handle(ctxFor(t), msg("q", "k", c.body))
				switch {
				case err == nil:
					t.Errorf("%s: acknowledged although Temporal was never reached", c.name)
				case pulse.IsPoison(err):
					t.Errorf("%s: dead-lettered for an outage: %v", c.name, err)
				}
			}
		})
	}
}

// resettingListener accepts connections and closes them at once, as a
// server being killed does, until the test ends.
func resettingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}
