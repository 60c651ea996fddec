// Package oneprocess configures a Temporal server whose four services run
// in this process, one host each, for the dev server and the benchmark's
// PostgreSQL-backed server: what differs between them is where they keep
// their data, their dynamic config and their log.
package oneprocess

import (
	"fmt"
	"net"
	"strconv"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

// ClusterName is the single cluster's name. It is stored with each
// namespace, so a server must keep it across restarts on the same data.
const ClusterName = "active"

// Services are the four Temporal services, in the order of Server's addrs.
var Services = []primitives.ServiceName{
	primitives.FrontendService,
	primitives.HistoryService,
	primitives.MatchingService,
	primitives.WorkerService,
}

// Server configures the four services on addrs (host:port, in the order
// of Services: the frontend first) with persistence. Membership is static,
// one host per service: no gossip ports, a faster start.
func Server(addrs []string, persistence config.Persistence, dc dynamicconfig.Client, logger serverlog.Logger) (temporal.Server, error) {
	if len(addrs) != len(Services) {
		return nil, fmt.Errorf("oneprocess: %d addresses for %d services", len(addrs), len(Services))
	}
	conf := &config.Config{Services: map[string]config.Service{}}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for i, svc := range Services {
		ip, port, err := net.SplitHostPort(addrs[i])
		if err != nil {
			return nil, fmt.Errorf("oneprocess: %s address: %w", svc, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("oneprocess: port of %s: %w", addrs[i], err)
		}
		conf.Services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: p, BindOnIP: ip}}
		hosts[svc] = static.SingleLocalHost(addrs[i])
	}
	frontend := addrs[0]
	host, _, _ := net.SplitHostPort(frontend)
	conf.Global.Membership = config.Membership{BroadcastAddress: host}
	conf.Persistence = persistence
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        ClusterName,
		CurrentClusterName:       ClusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			ClusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
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
		temporal.WithDynamicConfigClient(dc),
		temporal.WithLogger(logger),
	)
	if err != nil {
		return nil, fmt.Errorf("oneprocess: configure Temporal: %w", err)
	}
	return srv, nil
}
