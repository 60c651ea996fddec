#!/usr/bin/env bash
# Makes sure the real services the tests and the demo use are installed and
# running on this machine: MariaDB on 127.0.0.1:3306 (root, no password) and
# RabbitMQ on 127.0.0.1:5672 (guest/guest) with its management API on :15672.
# It also installs Debian's Buildbot master and worker, which the tests start
# themselves (internal/testenv/buildbot3).
#   bash scripts/services.sh               # MariaDB, RabbitMQ, Buildbot
#   bash scripts/services.sh postgresql    # only PostgreSQL on 127.0.0.1:5432
#                                          # (user postgres, no password), for
#                                          # `bbb-bench -temporal postgres`
# Idempotent: run it as often as you like. Needs root for apt-get on a fresh
# machine.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq "$secs"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not come up within ${secs}s"
  return 1
}

mariadb_tcp_ok() { mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1'; }

ensure_mariadb() {
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  if ! mariadb-admin ping --silent >/dev/null 2>&1; then
    log "starting MariaDB"
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=3306
    wait_for 60 MariaDB mariadb-admin ping --silent
  fi
  if ! mariadb_tcp_ok >/dev/null 2>&1; then
    # A fresh Debian install lets root in only through the unix socket.
    log "allowing root without password on 127.0.0.1"
    mariadb -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  wait_for 30 "MariaDB on 127.0.0.1:3306" mariadb_tcp_ok
}

rabbit_api_ok() { curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview; }

ensure_rabbitmq() {
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  command -v curl >/dev/null 2>&1 || apt_install curl
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    rabbitmq-plugins --offline enable rabbitmq_management >/dev/null
    rabbitmq-server -detached
    wait_for 90 RabbitMQ rabbitmqctl -q status
  fi
  if ! rabbit_api_ok >/dev/null 2>&1; then
    # The tests give each test its own vhost through the management API.
    log "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
  fi
  wait_for 60 "RabbitMQ management API" rabbit_api_ok
}

ensure_buildbot() {
  # Only installed: each test runs its own master and worker.
  if ! command -v buildbot >/dev/null 2>&1 || ! command -v buildbot-worker >/dev/null 2>&1; then
    apt_install buildbot buildbot-worker
  fi
}

pg_tcp_ok() { psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc 'SELECT 1'; }

ensure_postgresql() {
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version"
    # No systemd here: pg_ctlcluster starts the server itself.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for 60 PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  fi
  if ! pg_tcp_ok >/dev/null 2>&1; then
    # A fresh Debian install asks for a password on TCP; the benchmark
    # connects as postgres without one, from loopback only.
    local hba
    hba=$(runuser -u postgres -- psql -Atc 'SHOW hba_file')
    log "trusting postgres on 127.0.0.1 ($hba)"
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    runuser -u postgres -- psql -qAtc 'SELECT pg_reload_conf()' >/dev/null
  fi
  wait_for 30 "PostgreSQL on 127.0.0.1:5432" pg_tcp_ok
}

if [ "$#" -gt 0 ]; then
  for s in "$@"; do
    case "$s" in
      mariadb | rabbitmq | buildbot | postgresql) "ensure_$s" ;;
      *) log "unknown service $s (mariadb, rabbitmq, buildbot, postgresql)"; exit 2 ;;
    esac
  done
  log "up: $*"
  exit 0
fi
ensure_mariadb
ensure_rabbitmq
ensure_buildbot
log "MariaDB and RabbitMQ are up; Buildbot $(buildbot --version 2>/dev/null | sed -n 's/^Buildbot version: //p') is installed"
