package faults

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the admin connection to the dedicated server

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// MariaDB is a MariaDB server of the fault run's own: its data directory,
// port and socket are private, so stopping it for a fault touches no one
// else's databases.
type MariaDB struct {
	dir  string
	addr string
	proc *service
}

// StartMariaDB initialises a data directory under dir and starts the server
// on a free loopback port, root without password over TCP.
func StartMariaDB(ctx context.Context, dir string) (*MariaDB, error) {
	addr, err := localdeploy.FreeAddr()
	if err != nil {
		return nil, err
	}
	m := &MariaDB{dir: dir, addr: addr}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	install := exec.CommandContext(ictx, "mariadb-install-db", "--no-defaults",
		"--datadir="+filepath.Join(dir, "data"), "--user="+currentUser(),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("faults: mariadb-install-db: %v\n%s", err, out)
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Addr is host:port of the server.
func (m *MariaDB) Addr() string { return m.addr }

// Start (re)starts the server on its data directory and waits until it
// answers.
func (m *MariaDB) Start(ctx context.Context) error {
	_, port, _ := strings.Cut(m.addr, ":")
	p, err := startService(ctx, "mariadbd", filepath.Join(m.dir, "mariadbd.log"), nil,
		"mariadbd", "--no-defaults", "--datadir="+filepath.Join(m.dir, "data"),
		"--port="+port, "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "mysqld.sock"),
		"--pid-file="+filepath.Join(m.dir, "mysqld.pid"), "--user="+currentUser(),
		"--skip-log-bin", "--innodb-buffer-pool-size=128M", "--max-connections=500")
	if err != nil {
		return err
	}
	m.proc = p
	return localdeploy.WaitReady(ctx, time.Minute, "MariaDB on "+m.addr+" (log "+p.logPath+")", p.exited, func(ctx context.Context) error {
		db, err := m.admin()
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
}

// Stop shuts the server down (SIGTERM, as an init system does) and waits.
func (m *MariaDB) Stop() error {
	if m.proc == nil {
		return nil
	}
	err := m.proc.stop(time.Minute)
	m.proc = nil
	return err
}

func (m *MariaDB) admin() (*sql.DB, error) {
	return sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/?timeout=5s&readTimeout=30s&writeTimeout=30s", m.addr))
}

// CreateDatabase makes an empty database and returns its name.
func (m *MariaDB) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	db, err := m.admin()
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := localdeploy.UniqueName(prefix)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The name is ours and hex-only; identifiers cannot be parameters.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return "", fmt.Errorf("faults: create database: %w", err)
	}
	return name, nil
}

// DropDatabase drops a database made by CreateDatabase.
func (m *MariaDB) DropDatabase(name string) error {
	db, err := m.admin()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	return err
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		return "root"
	}
	return strings.TrimSpace(string(out))
}
