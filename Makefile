# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: test build demo

## test: start MariaDB/RabbitMQ if needed, run the static checks and every test.
test:
	bash scripts/test.sh

## build: compile the worker and the starter into bin/.
build:
	go build -o bin/ ./worker ./starter

## demo: the one-command demo: Temporal dev server + Web UI (http://127.0.0.1:8233),
## stand-in Taskcluster queue and Buildbot master, the bridge, and demo tasks.
## Starts RabbitMQ if needed; keeps its state in ./data (Ctrl-C, then run again to resume).
## `make demo BUILDBOT=real`: a real Buildbot 3 master and worker instead of the
## simulator (apt-get installs them if missing), state in ./data-real.
## Built, then run (not `go run`, which exits 1 after a Ctrl-C even when the
## demo stopped cleanly).
BUILDBOT ?= sim
DATA ?= $(if $(filter real,$(BUILDBOT)),./data-real,./data)
demo:
	go build -o bin/demo ./internal/demo
	exec bin/demo -start-services -buildbot $(BUILDBOT) -data $(DATA)
