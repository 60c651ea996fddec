// Package pulsemsg decodes the Pulse messages the bridge consumes: Taskcluster's
// task-pending and task-exception (REFERENCE §A) and Mozilla Buildbot's
// build.*.*.started and build.*.*.log_uploaded (REFERENCE §C).
//
// The decoders are pure functions over the message body. They never panic:
// whatever arrives on a queue is untrusted, and an error here marks the
// message as poison (it goes to the dead-letter queue), so each error says
// which field was wrong.
package pulsemsg
