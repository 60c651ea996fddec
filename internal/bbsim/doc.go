// Package bbsim is a stand-in for Mozilla's Buildbot 0.8 masters and the
// BuildAPI self-serve service, for tests, benchmarks and the demo.
//
// A Sim runs one or more simulated masters against a real scheduler DB
// (MySQL or SQLite, Buildbot 0.8's schema). Each master polls for unclaimed
// BuildRequests with the query a 0.8 master runs, claims them with a
// conditional UPDATE (so several masters and several Sims can share one
// DB), writes builds rows, and publishes the build.<builderdir>.<n>.started,
// .finished and .log_uploaded messages of Mozilla's PulseStatus and
// postrun.py. What each build does (result, duration, faults in its events)
// is scripted per BuildRequest through Options.Script. A claim whose reply
// is lost is read back, and the other writes are safe to retry, so a DB
// failure at the wrong moment neither strands a request nor builds it
// twice; claims older than Options.ClaimTimeout are taken over, as 0.8 did
// after an hour.
//
// The self-serve HTTP server cancels requests and builds asynchronously,
// through an agent, as BuildAPI's selfserve-agent did.
//
// The package issues its own SQL: it plays Buildbot, not the bridge.
package bbsim
