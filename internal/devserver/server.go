package devserver

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

// services are the four Temporal services, all run in this process.
var services = []primitives.ServiceName{
	primitives.FrontendService,
	primitives.HistoryService,
	primitives.MatchingService,
	primitives.WorkerService,
}

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
// on frontend (host:port), the others on free ports. Membership is static
// (one host per service), which needs no gossip ports and starts faster.
func newTemporalServer(frontend string, sqlConf *config.SQL, logger *slog.Logger) (temporal.Server, error) {
	host, _, err := net.SplitHostPort(frontend)
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	conf := &config.Config{}
	conf.Services = map[string]config.Service{}
	for _, svc := range services {
		addr := frontend
		if svc != primitives.FrontendService {
			if addr, err = resolveAddr(net.JoinHostPort(host, "0"), string(svc)+" service"); err != nil {
				return nil, err
			}
		}
		ip, port, _ := net.SplitHostPort(addr)
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("devserver: port of %s: %w", addr, err)
		}
		conf.Services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: p, BindOnIP: ip}}
		hosts[svc] = static.SingleLocalHost(addr)
	}

	conf.Global.Membership = config.Membership{BroadcastAddress: host}
	conf.Persistence = config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlConf}},
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
		},
	}
	conf.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The server's internal workers (e.g. the scheduler) dial it here.
	conf.PublicClient = config.PublicClient{HostPort: frontend}

	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithDynamicConfigClient(dynamicConfig),
		temporal.WithLogger(newServerLogger(logger)),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: configure Temporal: %w", err)
	}
	return srv, nil
}
