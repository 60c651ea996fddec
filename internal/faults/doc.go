// Package faults is the bridge's fault matrix (issue 6, item 1): for each
// fault, a fresh deployment — embedded Temporal, the stand-in queue behind a
// small proxy, simulated Buildbot masters, the real worker and starter as
// child processes — carries a few hundred tasks with a mix of Buildbot
// results while the fault strikes; once it has healed and everything has
// settled, the invariants the bridge promises are checked: every task
// resolved as its Buildbot result calls for, one BuildRequest per task, no
// claim expired, no workflow left open, every Pulse queue drained, no process
// crashed.
//
// The command runs its own MariaDB server and RabbitMQ node (stopped and
// restarted by two of the faults), so it never disturbs the machine's shared
// services.
package faults
