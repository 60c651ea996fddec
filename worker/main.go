// Command worker is the bridge's Temporal worker: it runs the task and
// sweep workflows and the activities that talk to Taskcluster, the Buildbot
// scheduler DB and self-serve.
//
//	worker -config /etc/buildbot-bridge/config.json
//
// Start-up, in order: read the config; open the scheduler DB and create the
// bridge's bbb_tasks table if missing; connect to Temporal; make sure the
// search attributes exist; start the sweep workflow if it is not running;
// poll until SIGINT or SIGTERM, then drain.
package main

import "github.com/bbbridge/buildbot-bridge/internal/bridge"

func main() {
	bridge.Main("worker", bridge.RunWorker)
}
