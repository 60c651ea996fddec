# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: test build

## test: start MariaDB/RabbitMQ if needed, run the static checks and every test.
test:
	bash scripts/test.sh

## build: compile the worker and the starter into bin/.
build:
	go build -o bin/ ./worker ./starter
