// Package buildbot3 runs a real Buildbot 3 master and one worker for a test
// (Start) or for the demo (Launch, `make demo BUILDBOT=real`): the master
// the bridge talks to in production, not a fake. It needs Debian's
// buildbot and buildbot-worker packages (scripts/services.sh installs
// them).
//
// The master.cfg it writes uses contrib/buildbot/taskcluster_bridge.py as
// shipped, so the tests also exercise what Buildbot admins install.
//
// # The buildbot-www stand-in
//
// Debian does not package buildbot-www (the web UI), and a master whose
// config enables the web server refuses to start without it, although the
// REST API, /auth/login and the change hooks do not need the UI itself.
// ../buildbotfixture holds a stand-in buildbot_www package with no UI that
// this package puts on the master's PYTHONPATH. It is a test fixture, which
// the demo borrows and says so: a real deployment installs buildbot-www
// with Buildbot and must not use it.
//
// # Builds
//
// Every builder runs the same steps, steered by build properties so that a
// test picks the outcome without touching master.cfg: it echoes the taskId
// property, sleeps for the sleep property (default 1 second), then exits
// with the exit property (default 0; 1 makes the build a FAILURE). Each
// builder runs one build at a time on the one worker, so a second request
// on a builder stays pending while a build with a long sleep runs.
package buildbot3
