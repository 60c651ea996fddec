package devserver

import (
	"log/slog"
	"net"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/oneprocess"
)

// dynamicConfig are the dev server's settings beyond the defaults.
var dynamicConfig = dynamicconfig.StaticClient{
	// A search attribute added while running is usable at once, instead of
	// after the cache's refresh (the worker adds missing ones at start).
	dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
	// One partition per task queue instead of the server's 4. The bridge's
	// queue is polled by a few pollers on one host: with 4 partitions a
	// task written to a partition no poller waits on is persisted and
	// forwarded before it is matched. Measured (README, "Performance"):
	// ~15 % more lifecycles/s in the benchmark, and 17.9 against 4.2
	// lifecycles/s on a file-backed SQLite server like this one in the
	// issue-16 probe. Partitions pay off only for a queue one matching
	// host cannot carry.
	dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
	dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
}

// newTemporalServer configures the four services on loopback: the frontend
// on frontend (host:port), the others on free ports.
func newTemporalServer(frontend string, sqlConf *config.SQL, logger *slog.Logger) (temporal.Server, error) {
	host, _, err := net.SplitHostPort(frontend)
	if err != nil {
		return nil, err
	}
	addrs := []string{frontend}
	for _, svc := range oneprocess.Services[1:] {
		addr, err := resolveAddr(net.JoinHostPort(host, "0"), string(svc)+" service")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return oneprocess.Server(addrs, config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlConf}},
	}, dynamicConfig, newServerLogger(logger))
}
