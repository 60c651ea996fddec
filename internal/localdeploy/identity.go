package localdeploy

import (
	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// Identity is who is who in a deployment's Taskcluster: the worker pool the
// bridge serves, the identity it claims runs with, the scheduler that
// creates the tasks, and their clients in the stand-in queue.
type Identity struct {
	ProvisionerID     string
	WorkerType        string
	WorkerGroup       string
	WorkerID          string
	SchedulerID       string
	BridgeClientID    string
	SchedulerClientID string
	// QueueBasename prefixes the bridge's Pulse queues.
	QueueBasename string
}

// NewIdentity is the identity of a deployment named name ("e2e", "bench"):
// worker bbb-<name>/bbb-<name>-1, scheduler and its client <name>-scheduler,
// Pulse queues queue/bbb-<name>; the pool and the bridge's client are
// production's.
func NewIdentity(name string) Identity {
	return Identity{
		ProvisionerID:     "buildbot-bridge",
		WorkerType:        "buildbot-bridge",
		WorkerGroup:       "bbb-" + name,
		WorkerID:          "bbb-" + name + "-1",
		SchedulerID:       name + "-scheduler",
		BridgeClientID:    "project/releng/buildbot-bridge",
		SchedulerClientID: name + "-scheduler",
		QueueBasename:     "queue/bbb-" + name,
	}
}

// BridgeScopes are exactly the scopes the bridge needs (REFERENCE §A), so
// that a call needing another fails in a deployment as it would in
// production.
func (id Identity) BridgeScopes() []string {
	return []string{
		"queue:claim-task:" + id.ProvisionerID + "/" + id.WorkerType,
		"queue:worker-id:" + id.WorkerGroup + "/" + id.WorkerID,
		"queue:cancel-task:" + id.SchedulerID + "/*",
		"queue:rerun-task:" + id.SchedulerID + "/*",
		"queue:reclaim-task:*",
		"queue:resolve-task:*",
		"queue:create-artifact:*",
	}
}

// QueueClients are the stand-in queue's two clients: the bridge with its
// scopes, the scheduler with every scope.
func (id Identity) QueueClients(bridgeToken, schedulerToken string) map[string]tcfake.Client {
	return map[string]tcfake.Client{
		id.BridgeClientID:    {AccessToken: bridgeToken, Scopes: id.BridgeScopes()},
		id.SchedulerClientID: {AccessToken: schedulerToken, Scopes: []string{"*"}},
	}
}
