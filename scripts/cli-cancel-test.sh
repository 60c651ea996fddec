#!/usr/bin/env bash
# The manual-cancel check of README "Operating it", with the real temporal
# CLI: starts the demo in-process (fresh data folder, its own RabbitMQ
# vhost), creates two long tasks, cancels one with
#   temporal workflow signal --workflow-id task-<taskId> --name cancel --input '{"reason":"cli test"}' --address ...
# and the other with `temporal workflow cancel --workflow-id task-<taskId>`, and checks Taskcluster (run exception/canceled) and Buildbot (BuildRequest
# CANCELLED), then finds the workflow with `temporal workflow list --query`.
# Not part of `make test`: the CLI's first build takes about 10 minutes
# (cached in $(go env GOPATH)/bin afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

export PATH="$(go env GOPATH)/bin:$PATH"
if ! command -v temporal >/dev/null 2>&1; then
  echo "cli-cancel-test: installing the temporal CLI (go install, several minutes the first time)" >&2
  GOFLAGS= go install github.com/temporalio/cli/cmd/temporal@v1.5.1
fi

go test -tags clitest -count=1 -v -timeout 10m -run '^TestCLICancel$' ./internal/demo/
