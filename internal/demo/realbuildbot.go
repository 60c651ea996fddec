package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/starter"
	"github.com/bbbridge/buildbot-bridge/internal/testenv/buildbot3"
)

// retryOnceStep is added to the real master's build steps
// (internal/testenv/buildbot3 runs taskId, sleep and exit first). A build
// whose retryOnce property is true ends RETRY the first time, which makes
// Buildbot build the same request again, and succeeds the next: a worker
// lost mid-build, on demand. The mark of the first time is a file in the
// builder's directory on the worker, named after the task, so it survives
// a restart of the demo. Values reach sh as arguments, never as script
// text.
const retryOnceStep = `# The demo's retry (internal/demo): RETRY once per task when retryOnce is set.
factory.addStep(steps.ShellCommand(name='retry-once', decodeRC={0: util.SUCCESS, 75: util.RETRY},
    command=['sh', '-c',
             'case "$2" in ""|*[!A-Za-z0-9_-]*) exit 0;; esac; '
             'if [ -n "$1" ] && [ ! -e "retried-$2" ]; then touch "retried-$2"; exit 75; fi',
             'retry-once', util.Interpolate('%(prop:retryOnce:#?|1|)s'), util.Interpolate('%(prop:taskId:-)s')]))`

// untilCancelled is the sleep of the build that runs until someone cancels
// it: a day, longer than anyone watches the demo.
const untilCancelled = 24 * time.Hour

// realBuildProperties are the properties that make the real master's
// builds end as the simulator's script does (see script): the steps sleep
// for sleep seconds, exit with exit, and RETRY once with retryOnce.
func realBuildProperties(o options) map[string]map[string]any {
	short := o.BuildDuration / 3
	return map[string]map[string]any{
		builderSuccess: {"sleep": o.BuildDuration.Seconds()},
		builderFailure: {"sleep": short.Seconds(), "exit": 1},
		builderRetry:   {"sleep": short.Seconds(), "retryOnce": true},
		builderLong:    {"sleep": untilCancelled.Seconds()},
	}
}

// standInNote says why the master runs with a fake buildbot_www, so that
// nobody copies that into a deployment.
const standInNote = "note: Debian does not package buildbot-www (Buildbot's web UI), so the master runs with a stand-in for it " +
	"(internal/testenv/buildbotfixture, on its PYTHONPATH) only so that it starts its web server: the REST API works, " +
	"there is no web UI. A real deployment installs buildbot-www with Buildbot and never uses the stand-in."

// ensureBuildbot makes sure Buildbot's master and worker are installed;
// with start it runs scripts/services.sh, which installs Debian's
// packages, when they are not.
func ensureBuildbot(ctx context.Context, out io.Writer, start bool) error {
	err := buildbotInstalled()
	if err == nil {
		return nil
	}
	if !start {
		return fmt.Errorf("%w\n\nInstall Buildbot (and start RabbitMQ and MariaDB) with:\n    bash %s\nor run the demo with -start-services (make demo does)", err, servicesScript)
	}
	if err := runServicesScript(ctx, out, err, "apt-get installs buildbot and buildbot-worker, and starts RabbitMQ and MariaDB as needed"); err != nil {
		return err
	}
	return buildbotInstalled()
}

func buildbotInstalled() error {
	var missing []string
	for _, tool := range []string{"buildbot", "buildbot-worker"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not installed", strings.Join(missing, " and "))
	}
	return nil
}

// startRealBuildbot starts a Buildbot master and one worker under
// <data>/buildbot, reusing what an earlier run left there: the same
// master directory and SQLite database, so requests that were pending or
// building at Ctrl-C are built at this start. Its builders are the
// simulator's, all reachable through the bridge's force scheduler, and
// its reporter pushes to the starter.
func (s *stack) startRealBuildbot() error {
	if s.state.EventsPassword == "" {
		s.state.EventsPassword = newToken()
	}
	s.state.BuildProperties = realBuildProperties(s.o)
	if err := s.state.save(s.o.DataDir); err != nil {
		return err
	}
	dir := filepath.Join(s.o.DataDir, buildbotDir)
	_, err := os.Stat(filepath.Join(dir, "master", "state.sqlite"))
	reused := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	what := "creating a master (buildbot create-master) and a worker in " + dir
	if reused {
		what = "reusing the master and worker in " + dir + " (same SQLite database: earlier runs' requests and builds)"
	}
	progress(s.out, "starting a real Buildbot master and worker (Debian's buildbot and buildbot-worker): %s...", what)
	progress(s.out, "%s", standInNote)
	began := time.Now()
	m, err := buildbot3.Launch(dir, buildbot3.Options{
		Builders:     masterBuilders,
		Steps:        retryOnceStep,
		PushURL:      "http://" + s.o.EventsListen + starter.PushPath,
		PushPassword: s.state.EventsPassword,
		WWWPort:      s.o.BuildbotWWWPort,
		PBPort:       s.o.BuildbotPBPort,
	})
	if err != nil {
		return err
	}
	s.master = m
	// Registered in this order so that Ctrl-C stops the worker first
	// (after the bridge): its running builds end RETRY and their requests
	// wait in the database for the next run. A master stopped under them
	// would cancel them instead, and their tasks with them.
	s.onClose("the Buildbot master", m.Shutdown)
	s.onClose("the Buildbot worker", m.KillWorker)
	progress(s.out, "Buildbot master and worker up in %s: builders %s; REST API at %sapi/v2/ (e.g. %sapi/v2/builds); no web UI (stand-in, see the note above)",
		since(began), strings.Join(masterBuilders, ", "), m.APIURL(), m.APIURL())
	return nil
}

// realBackend is the bridge's buildbot section for the running master.
func (s *stack) realBackend() map[string]any {
	// The master itself tells which builders exist, so a task for any
	// other ends malformed-payload without an allowed-builders list.
	return localdeploy.BackendREST(s.master.APIURL(), buildbot3.BridgeScheduler, s.o.EventsListen, s.state.EventsPassword)
}
