#!/usr/bin/env bash
# The project's test command (README: `make test`; CI: .ci/run). Starts the
# real services if needed, runs the static checks, then the tests: unit and
# package tests with -race, and the end-to-end scenarios (which embed the
# Temporal server, too slow under -race on 2 cores) without.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
# embedtemporal's test runs Temporal on PostgreSQL, as `bbb-bench -temporal
# postgres` does.
bash scripts/services.sh postgresql

GOBIN=$(go env GOPATH)/bin
export PATH="$GOBIN:$PATH"
install_tool() { # install_tool BINARY MODULE@VERSION
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "test: installing $2" >&2
    GOFLAGS= go install "$2"
  fi
}
install_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
install_tool workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
echo "== go vet" >&2
go vet ./...
echo "== staticcheck" >&2
staticcheck ./...
echo "== workflowcheck" >&2
workflowcheck ./workflows/...

# Packages whose tests embed the Temporal server: few, big binaries, run
# without -race (a race build of the server costs many minutes and the
# server is not ours to check).
SERVER_PKGS="./internal/devserver/... ./internal/demo/... ./internal/localdeploy/embedtemporal/..."
echo "== unit and package tests (-race)" >&2
go test -race -count=1 -timeout 15m $(go list ./... | grep -v -e '/e2e' -e '/internal/devserver' -e '/internal/demo' -e '/internal/localdeploy/embedtemporal')
echo "== packages embedding the Temporal server" >&2
go test -count=1 -timeout 10m $SERVER_PKGS
# A count, not a duration: with -fuzztime 5s, go test now and then ends a
# healthy run with "context deadline exceeded".
echo "== fuzz (5,000 inputs a target)" >&2
FUZZTIME=5000x bash scripts/fuzz.sh
echo "== benchmark, quick mode (keeps it working; timings not asserted)" >&2
go run ./internal/bench/cmd/bbb-bench -quick
if [ -d e2e ]; then
  echo "== end-to-end scenarios" >&2
  # The scenarios mostly wait on timers and stand-ins, so 4 run at a time
  # even on 2 cores.
  go test -count=1 -parallel 4 -timeout 25m ./e2e/...
fi
# Last: it starts a MariaDB server and a RabbitMQ node of its own, and stops
# and restarts them.
echo "== fault matrix, quick subset (exit 1 on any violated invariant)" >&2
go run ./internal/faults/cmd/bbb-faults -quick
