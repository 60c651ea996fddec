package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/rabbitapi"
)

// Rabbit is a RabbitMQ node of the fault run's own: its node name, ports,
// database and logs are private (epmd, the Erlang port mapper, is shared
// by design and left alone), so restarting it for a fault disturbs no
// other user of the machine's broker.
type Rabbit struct {
	dir      string
	env      []string
	amqpAddr string
	apiBase  string
	proc     *service
}

// StartRabbit starts a node with the management plugin, everything under
// dir, and waits until AMQP and the management API answer.
func StartRabbit(ctx context.Context, dir string) (*Rabbit, error) {
	amqpPort, err1 := freePort()
	apiPort, err2 := freePort()
	distPort, err3 := freePort()
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return nil, err
		}
	}
	conf := strings.Join([]string{
		"listeners.tcp.default = 127.0.0.1:" + amqpPort,
		"management.tcp.ip = 127.0.0.1",
		"management.tcp.port = " + apiPort,
		// guest may connect over 127.0.0.1 only anyway; the node listens nowhere else.
		"loopback_users = none",
		"log.console = false",
		// Queue counts fresh each second, for the drained check.
		"collect_statistics_interval = 1000",
	}, "\n") + "\n"
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[rabbitmq_management].\n",
		// An empty env file, so /etc/rabbitmq/rabbitmq-env.conf (which
		// names the machine's own node) is not read.
		"rabbitmq-env.conf": "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	r := &Rabbit{
		dir:      dir,
		amqpAddr: "127.0.0.1:" + amqpPort,
		apiBase:  "http://127.0.0.1:" + apiPort + "/api",
		env: []string{
			// The Erlang cookie is created under HOME.
			"HOME=" + dir,
			"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"),
			"RABBITMQ_NODENAME=" + localdeploy.UniqueName("bbbfaults") + "@localhost",
			"RABBITMQ_NODE_PORT=" + amqpPort,
			"RABBITMQ_DIST_PORT=" + distPort,
			"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
			"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
			"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
			"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
			"RABBITMQ_PLUGINS_EXPAND_DIR=" + filepath.Join(dir, "plugins-expand"),
			"RABBITMQ_PID_FILE=" + filepath.Join(dir, "rabbit.pid"),
			"ERL_EPMD_ADDRESS=127.0.0.1",
		},
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// rabbitServer is the server script itself, not the /usr/sbin wrapper,
// which switches to the rabbitmq user and the machine's node.
func rabbitServer() string {
	if _, err := os.Stat("/usr/lib/rabbitmq/bin/rabbitmq-server"); err == nil {
		return "/usr/lib/rabbitmq/bin/rabbitmq-server"
	}
	return "rabbitmq-server"
}

// Start (re)starts the node on its database and waits until AMQP and the
// management API answer.
func (r *Rabbit) Start(ctx context.Context) error {
	p, err := startService(ctx, "rabbitmq", filepath.Join(r.dir, "rabbitmq.out"), r.env, rabbitServer())
	if err != nil {
		return err
	}
	r.proc = p
	return localdeploy.WaitReady(ctx, 3*time.Minute, "RabbitMQ on "+r.amqpAddr+" (log "+p.logPath+")", p.exited, func(ctx context.Context) error {
		if err := rabbitapi.Call(ctx, r.apiBase, http.MethodGet, "/overview", "", nil); err != nil {
			return err
		}
		conn, err := amqp.DialConfig(r.URL("/"), amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// Stop shuts the node down cleanly (SIGTERM) and waits for it to exit.
func (r *Rabbit) Stop() error {
	if r.proc == nil {
		return nil
	}
	err := r.proc.stop(2 * time.Minute)
	r.proc = nil
	return err
}

// URL is the AMQP URL of a vhost, as guest.
func (r *Rabbit) URL(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@%s/%s", r.amqpAddr, url.PathEscape(vhost))
}

// CreateVhost makes a fresh vhost guest may use and returns its name.
func (r *Rabbit) CreateVhost(ctx context.Context, prefix string) (string, error) {
	vhost := localdeploy.UniqueName(prefix)
	if err := rabbitapi.CreateVHost(ctx, r.apiBase, vhost); err != nil {
		return "", fmt.Errorf("faults: %w", err)
	}
	return vhost, nil
}

// DeleteVhost deletes a vhost and all it holds.
func (r *Rabbit) DeleteVhost(vhost string) error {
	return rabbitapi.DeleteVHost(context.Background(), r.apiBase, vhost)
}

// QueueDepth is what a queue holds: ready messages and delivered ones not
// yet acknowledged.
type QueueDepth struct {
	Name      string `json:"name"`
	Ready     int    `json:"messages_ready"`
	Unacked   int    `json:"messages_unacknowledged"`
	Consumers int    `json:"consumers"`
}

// Queues lists the vhost's queues. The management API's counts are
// sampled (each second here), so a caller wanting "drained" polls.
func (r *Rabbit) Queues(ctx context.Context, vhost string) ([]QueueDepth, error) {
	var out []QueueDepth
	err := rabbitapi.Call(ctx, r.apiBase, http.MethodGet, "/queues/"+url.PathEscape(vhost), "", &out)
	return out, err
}
