// Package localdeploy stands up a deployment of the bridge on this machine:
// the stand-in Taskcluster queue (tcfake) publishing to a RabbitMQ vhost, a
// Buildbot 0.8 scheduler DB with simulated masters and self-serve (bbsim),
// a Temporal server, the bridge's config.json pointing at all of them, and
// the worker and starter, as child processes (Child) or inside this process
// (InProcess). The benchmark (internal/bench), the fault matrix
// (internal/faults), the demo (internal/demo) and the end-to-end tests (e2e)
// all stand up their deployments through it, so a new scenario, fault or
// benchmark says only what differs: Options, then its own checks.
//
//	d, err := localdeploy.Start(ctx, localdeploy.Options{
//		Identity:   localdeploy.NewIdentity("mine"),
//		Temporal:   embedtemporal.Starter(log),
//		AMQPURL:    amqpURL,
//		Buildbot08: &localdeploy.Buildbot08{SchedulerDB: dbURL},
//	})
//	defer d.Close()
//	worker, err := d.StartChild(ctx, localdeploy.ChildSpec{Kind: "worker", Bin: bins["worker"], Dir: dir})
//
// The package does not link the Temporal server (its tests and the
// benchmark's stay small): Options.Temporal starts one, and the
// embedtemporal sub-package is the embedded server the commands and the
// end-to-end tests use.
package localdeploy
