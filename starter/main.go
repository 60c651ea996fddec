// Command starter is the bridge's Pulse consumer: it turns Taskcluster's
// task-pending and task-exception messages and Buildbot's started and
// log_uploaded events into signals to task workflows, starting a task's
// workflow when its first task-pending arrives.
//
//	starter -config /etc/buildbot-bridge/config.json
//
// Start-up, in order: read the config; open the scheduler DB (it maps
// BuildRequests to tasks); connect to Temporal; consume the bridge's queues
// until SIGINT or SIGTERM, then stop taking messages, let the handlers in
// flight finish, and exit. Any number of starters may run side by side.
package main

import "github.com/bbbridge/buildbot-bridge/internal/bridge"

func main() {
	bridge.Main("starter", bridge.RunStarter)
}
