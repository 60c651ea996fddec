# Builds the bridge's two processes into one small image; docker-compose.yml
# runs it twice, as the worker and as the starter.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -o /out/bbb-worker ./worker && \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -o /out/bbb-starter ./starter

FROM debian:bookworm-slim
# curl is for the container healthchecks, which GET /healthz on worker.listen
# and starter.listen.
RUN apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates curl && \
    rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# The bridge needs no privilege: it only dials out and serves /healthz on
# unprivileged ports.
USER nobody
EXPOSE 9464 9465
