package localdeploy

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the admin connection that creates the databases

	"github.com/bbbridge/buildbot-bridge/internal/rabbitapi"
)

// Services says where the real MariaDB and RabbitMQ are; the defaults are
// the machine's own, and the tests' environment variables (BBB_TEST_MYSQL,
// BBB_TEST_RABBIT, BBB_TEST_RABBIT_API) move them.
type Services struct {
	MySQL     string // host:port, user root without password
	Rabbit    string // host:port of AMQP, user guest/guest
	RabbitAPI string // base URL of the management API
}

// DefaultServices reads the environment.
func DefaultServices() Services {
	s := Services{MySQL: "127.0.0.1:3306", Rabbit: "127.0.0.1:5672", RabbitAPI: "http://127.0.0.1:15672/api"}
	if v := os.Getenv("BBB_TEST_MYSQL"); v != "" {
		s.MySQL = v
	}
	if v := os.Getenv("BBB_TEST_RABBIT"); v != "" {
		s.Rabbit = v
	}
	if v := os.Getenv("BBB_TEST_RABBIT_API"); v != "" {
		s.RabbitAPI = strings.TrimSuffix(v, "/")
	}
	return s
}

// CreateDatabase makes an empty MariaDB database and returns its name and
// a function that drops it.
func (s Services) CreateDatabase(ctx context.Context, prefix string) (string, func(), error) {
	admin, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/?timeout=10s", s.MySQL))
	if err != nil {
		return "", nil, err
	}
	name := UniqueName(prefix)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The name is ours and hex-only; identifiers cannot be parameters.
	if _, err := admin.ExecContext(cctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database on %s: %w", s.MySQL, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			fmt.Fprintf(os.Stderr, "localdeploy: drop database %s: %v\n", name, err)
		}
		admin.Close()
	}
	return name, drop, nil
}

// CreateVhost makes a fresh RabbitMQ vhost that guest may use and returns
// its AMQP URL and a function that deletes it with all it holds.
func (s Services) CreateVhost(ctx context.Context, prefix string) (string, func(), error) {
	vhost := UniqueName(prefix)
	del := func() {
		if err := rabbitapi.DeleteVHost(context.Background(), s.RabbitAPI, vhost); err != nil {
			fmt.Fprintf(os.Stderr, "localdeploy: delete vhost %s: %v\n", vhost, err)
		}
	}
	if err := rabbitapi.CreateVHost(ctx, s.RabbitAPI, vhost); err != nil {
		del()
		return "", nil, fmt.Errorf("RabbitMQ: %w", err)
	}
	return fmt.Sprintf("amqp://guest:guest@%s/%s", s.Rabbit, url.PathEscape(vhost)), del, nil
}
