package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/rabbitapi"
)

// The local RabbitMQ that scripts/services.sh installs and starts.
const (
	rabbitAMQP = "127.0.0.1:5672"
	rabbitAPI  = "http://127.0.0.1:15672/api"
	// rabbitUser's password is RabbitMQ's well-known default, only
	// accepted on loopback.
	rabbitUser = "guest"
	// demoVHost keeps the demo's exchanges and queues apart from anything
	// else on the broker (e.g. the tests' vhosts).
	demoVHost = "bbb-demo"
)

// servicesScript is what `make test` and CI run to install and start
// MariaDB and RabbitMQ.
const servicesScript = "scripts/services.sh"

// rabbitReachable checks the broker's AMQP port and management API.
func rabbitReachable(ctx context.Context, amqpHostPort, api string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", amqpHostPort)
	if err != nil {
		return fmt.Errorf("RabbitMQ AMQP port %s: %w", amqpHostPort, err)
	}
	conn.Close()
	if err := rabbitapi.Call(ctx, api, http.MethodGet, "/overview", "", nil); err != nil {
		return fmt.Errorf("RabbitMQ management API: %w", err)
	}
	return nil
}

// ensureRabbit makes sure RabbitMQ answers; with start it runs
// scripts/services.sh (from the repository root) when it does not.
func ensureRabbit(ctx context.Context, out io.Writer, start bool) error {
	err := rabbitReachable(ctx, rabbitAMQP, rabbitAPI)
	if err == nil {
		return nil
	}
	if !start {
		return fmt.Errorf("%w\n\nStart RabbitMQ with its management plugin (and MariaDB) with:\n    bash %s\nor run the demo with -start-services (make demo does)", err, servicesScript)
	}
	// Say what is really missing: a running broker whose management
	// plugin is off is not "RabbitMQ is not up".
	if err := runServicesScript(ctx, out, err, "installs and starts RabbitMQ and its management plugin as needed"); err != nil {
		return err
	}
	return rabbitReachable(ctx, rabbitAMQP, rabbitAPI)
}

// runServicesScript runs scripts/services.sh (from the repository root)
// because of why, saying what it does.
func runServicesScript(ctx context.Context, out io.Writer, why error, does string) error {
	if _, err := os.Stat(servicesScript); err != nil {
		return fmt.Errorf("%w; and %s is not here: run the demo from the repository root", why, servicesScript)
	}
	progress(out, "%v: running bash %s (%s)", why, servicesScript, does)
	began := time.Now()
	cmd := exec.CommandContext(ctx, "bash", servicesScript)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bash %s: %w", servicesScript, err)
	}
	progress(out, "bash %s done in %s", servicesScript, since(began))
	return nil
}

// ensureVHost creates the demo's vhost if missing and lets guest use it,
// returning its AMQP URL. With reset it deletes the vhost first: a demo
// starting over must not receive the messages a previous one left in its
// durable queues.
func ensureVHost(ctx context.Context, reset bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if reset {
		err := rabbitapi.DeleteVHost(ctx, rabbitAPI, demoVHost)
		if err != nil && !errors.Is(err, rabbitapi.ErrNotFound) {
			return "", fmt.Errorf("reset RabbitMQ vhost %s: %w", demoVHost, err)
		}
	}
	if err := rabbitapi.CreateVHost(ctx, rabbitAPI, demoVHost); err != nil {
		return "", fmt.Errorf("RabbitMQ: %w", err)
	}
	u := url.URL{Scheme: "amqp", User: url.UserPassword(rabbitUser, rabbitUser), Host: rabbitAMQP, Path: "/" + demoVHost}
	return u.String(), nil
}

// amqpHostPort is the broker address of an AMQP URL, for the reachability
// check.
func amqpHostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", errors.New("AMQP URL without a host")
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5672"), nil
	}
	return u.Host, nil
}

// rabbitBound reports whether the queue at the management API path
// (/queues/<vhost>/<queue>) is bound to an exchange, i.e. messages
// published from now on are kept for the starter. Unlike the consumer
// count, which the broker refreshes every few seconds, bindings show at
// once.
func rabbitBound(ctx context.Context, path string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rabbitAPI+path+"/bindings", nil)
	if err != nil {
		return false, err
	}
	req.SetBasicAuth(rabbitUser, rabbitUser)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s/bindings: %s", path, resp.Status)
	}
	var bindings []struct {
		Source string `json:"source"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&bindings); err != nil {
		return false, err
	}
	for _, b := range bindings {
		// Every queue has a binding from the default exchange ("").
		if b.Source != "" {
			return true, nil
		}
	}
	return false, nil
}
