package pulse

import "strings"

// BridgeBindings are the bridge's queues and what they are bound to
// (DESIGN §5), named exactly as the original bridge named them so an
// operator's existing queues are reused.
type BridgeBindings struct {
	TaskPending   Binding
	TaskException Binding
	Started       Binding
	LogUploaded   Binding
	// DeadLetterQueue receives the messages no retry can handle.
	DeadLetterQueue string
}

// DefaultBuildExchange is bblistener.pulse_exchange when the config has none.
const DefaultBuildExchange = "exchange/build"

// Bindings derives the bridge's queue names and bindings from the config
// values pulse_queue_basename, tclistener.pulse_exchange_basename,
// tclistener.provisioner_id, tclistener.worker_type and
// bblistener.pulse_exchange.
//
// The original config wrote the exchange basename without a trailing slash
// ("exchange/taskcluster-queue/v1") and appended "/task-pending"; the
// queue's own prefix has one ("exchange/taskcluster-queue/v1/"). Both name
// the same exchanges here.
func Bindings(queueBasename, tcExchangeBasename, provisionerID, workerType, buildExchange string) BridgeBindings {
	tcBase := strings.TrimSuffix(tcExchangeBasename, "/")
	taskKey := "*.*.*.*.*." + provisionerID + "." + workerType + ".#"
	if buildExchange == "" {
		buildExchange = DefaultBuildExchange
	}
	return BridgeBindings{
		TaskPending: Binding{
			Queue:      queueBasename + "/task-pending",
			Exchange:   tcBase + "/task-pending",
			RoutingKey: taskKey,
		},
		TaskException: Binding{
			Queue:      queueBasename + "/task-exception",
			Exchange:   tcBase + "/task-exception",
			RoutingKey: taskKey,
		},
		Started: Binding{
			Queue:      queueBasename + "/started",
			Exchange:   buildExchange,
			RoutingKey: "build.*.*.started",
		},
		LogUploaded: Binding{
			Queue:      queueBasename + "/log_uploaded",
			Exchange:   buildExchange,
			RoutingKey: "build.*.*.log_uploaded",
		},
		DeadLetterQueue: queueBasename + "/dead-letter",
	}
}
