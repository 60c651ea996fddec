// Package temporalclient connects the bridge's processes to Temporal and
// makes sure the namespace knows the search attributes the task workflow
// upserts.
package temporalclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/bbbridge/buildbot-bridge/internal/metrics"
)

// DefaultDialTimeout bounds Dial when ctx has no deadline, so a process
// pointed at a wrong address fails at start instead of hanging.
const DefaultDialTimeout = 30 * time.Second

// Dial connects to the Temporal frontend at address (host:port) for
// namespace, logging through logger, and checks that the server answers.
func Dial(ctx context.Context, address, namespace string, logger *slog.Logger) (client.Client, error) {
	return DialTLS(ctx, address, namespace, nil, logger)
}

// DialTLS is Dial over TLS when tlsConfig is not nil (temporal.tls: a CA
// to trust, a client certificate for mTLS, the server's name).
func DialTLS(ctx context.Context, address, namespace string, tlsConfig *tls.Config, logger *slog.Logger) (client.Client, error) {
	return DialOptions(ctx, Options{Address: address, Namespace: namespace, TLS: tlsConfig}, logger)
}

// Options are how to reach Temporal.
type Options struct {
	Address   string
	Namespace string
	// TLS, when not nil, is used for the connection.
	TLS *tls.Config
	// Gzip compresses the gRPC messages (the SDK's default). Measured here
	// it costs the worker, the starter and the server about a tenth of
	// their CPU for messages of a few kilobytes, so the bridge leaves it
	// off unless temporal.grpc_compression asks for it (a slow link).
	Gzip bool
}

// DialOptions is Dial with every connection setting.
func DialOptions(ctx context.Context, o Options, logger *slog.Logger) (client.Client, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDialTimeout)
		defer cancel()
	}
	c, err := client.DialContext(ctx, clientOptions(o, logger))
	if err != nil {
		return nil, fmt.Errorf("temporal: connect to %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}

// clientOptions are the SDK's options for o, logging through logger (nil:
// slog.Default()).
func clientOptions(o Options, logger *slog.Logger) client.Options {
	if logger == nil {
		logger = slog.Default()
	}
	sdkLog := newSDKLogger(logger)
	return client.Options{
		HostPort:       o.Address,
		Namespace:      o.Namespace,
		Logger:         sdkLog,
		MetricsHandler: metrics.SDKHandler(logger),
		// Also the worker interceptor that lets the logger name a failing
		// local activity (sdklog.go); workers made from the client use it.
		Interceptors: []interceptor.ClientInterceptor{sdkLog.retries},
		ConnectionOptions: client.ConnectionOptions{
			TLS:             o.TLS,
			GrpcCompression: compression(o.Gzip),
		},
	}
}

func compression(gzip bool) client.GrpcCompression {
	if gzip {
		return &client.GrpcCompressionGzip{}
	}
	return &client.GrpcCompressionNone{}
}
