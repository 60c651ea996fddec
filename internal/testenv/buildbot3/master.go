package buildbot3

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape the master. The zero value plus Builders is a master
// without auth or push reporter whose builders are all reachable through
// the bridge scheduler.
type Options struct {
	// Builders are the builder names; each runs the steps described in the
	// package documentation.
	Builders []string
	// Steps is optional Python added to master.cfg after the standard
	// steps, with the build factory bound to the name factory (e.g.
	// "factory.addStep(steps.ShellCommand(command=['true']))").
	Steps string
	// Auth nil leaves the master open; otherwise control endpoints need a
	// session of this user, reads stay anonymous.
	Auth *Auth
	// PushURL is where bridge_reporter pushes events; "" adds no reporter.
	PushURL string
	// PushUser ("" means "buildbot") and PushPassword are the HTTP Basic
	// credentials the reporter sends.
	PushUser, PushPassword string
	// CollapseRequests turns Buildbot's request collapsing on; bridged
	// builders need it off, as it is by default here.
	CollapseRequests bool
	// SchedulerBuilders are the builders the bridge scheduler may force;
	// nil means all of Builders.
	SchedulerBuilders []string
}

// Auth is the one user the master knows.
type Auth struct{ User, Password string }

// Master is a running master with one connected worker. Its methods are
// for one goroutine at a time.
type Master struct {
	opts      Options
	dir       string // holds master/ and worker/
	env       []string
	wwwPort   int
	pbPort    int
	master    *proc
	worker    *proc
	startedAt int // "BuildMaster is running" lines in twistd.log after the last start
}

const (
	startTimeout  = 90 * time.Second
	stopGrace     = 30 * time.Second
	portAttempts  = 3
	logTailLines  = 80
	masterRunning = "BuildMaster is running"
)

// Start creates a master and a worker under t.TempDir() on free ports,
// starts both and returns once the REST API answers and the worker is
// connected. Both are killed when the test ends; if it failed, the tails of
// their logs are printed.
func Start(t testing.TB, opts Options) *Master {
	t.Helper()
	if len(opts.Builders) == 0 {
		t.Fatal("buildbot3: Options.Builders is empty")
	}
	for _, tool := range []string{"buildbot", "buildbot-worker"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("buildbot3: %s is not installed; run `bash scripts/services.sh` (it installs Debian's buildbot and buildbot-worker)", tool)
		}
	}
	root := repoRoot(t)
	m := &Master{opts: opts, dir: t.TempDir(), env: pythonEnv(root)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("buildbot3: tail of master twistd.log:\n%s", tail(m.masterLog(), logTailLines))
			t.Logf("buildbot3: tail of worker twistd.log:\n%s", tail(filepath.Join(m.workerDir(), "twistd.log"), 20))
		}
		if m.worker != nil {
			m.worker.kill()
		}
		if m.master != nil {
			m.master.kill()
		}
	})

	copyTemplate(t, m.masterDir())
	bridgeModule, err := os.ReadFile(filepath.Join(root, "contrib", "buildbot", "taskcluster_bridge.py"))
	if err != nil {
		t.Fatalf("buildbot3: %v", err)
	}
	writeFile(t, filepath.Join(m.masterDir(), "taskcluster_bridge.py"), bridgeModule)

	// A port picked free may be taken before the master binds it; the
	// master then dies at once and another pair is tried.
	for attempt := 1; ; attempt++ {
		m.wwwPort, m.pbPort = freePort(t), freePort(t)
		writeFile(t, filepath.Join(m.masterDir(), "master.cfg"), []byte(masterCfg(opts, m.wwwPort, m.pbPort)))
		err := m.startMaster()
		if err == nil {
			break
		}
		if attempt < portAttempts && strings.Contains(tail(m.masterLog(), logTailLines), "Address already in use") {
			continue
		}
		t.Fatalf("buildbot3: %v\nmaster twistd.log ends:\n%s", err, tail(m.masterLog(), logTailLines))
	}

	run(t, m.dir, m.env, "buildbot-worker", "create-worker", "-r", m.workerDir(),
		fmt.Sprintf("127.0.0.1:%d", m.pbPort), workerName, workerPassword)
	m.StartWorker(t)
	return m
}

// APIURL is the root of the master's web server, with a trailing slash;
// the REST API is at APIURL()+"api/v2/".
func (m *Master) APIURL() string { return fmt.Sprintf("http://127.0.0.1:%d/", m.wwwPort) }

// Dir is the directory holding the master's and the worker's base
// directories (master/ and worker/).
func (m *Master) Dir() string { return m.dir }

func (m *Master) masterDir() string { return filepath.Join(m.dir, "master") }
func (m *Master) workerDir() string { return filepath.Join(m.dir, "worker") }
func (m *Master) masterLog() string { return filepath.Join(m.masterDir(), "twistd.log") }

// StopWorker kills the worker and its running steps with SIGKILL, as a
// worker machine dying would (a running build then ends RETRY), and
// returns once the master has noticed.
//
// It first waits for every running build to have begun its first real
// step: Buildbot 3.7 wedges a build whose worker is lost while the build
// is still preparing the worker (an AttributeError in the master); the
// build and its request then never finish, and no stop can end them.
func (m *Master) StopWorker(t testing.TB) {
	t.Helper()
	if m.worker == nil {
		return
	}
	m.waitBuilds(t, pastPreparation)
	m.worker.kill()
	m.worker = nil
	m.waitWorker(t, false)
}

// StartWorker starts the worker again and returns once it is connected.
func (m *Master) StartWorker(t testing.TB) {
	t.Helper()
	if m.worker != nil {
		return
	}
	p, err := startProc(m.workerDir(), "stdout.log", m.env, "buildbot-worker", "start", "--nodaemon", m.workerDir())
	if err != nil {
		t.Fatalf("buildbot3: start worker: %v", err)
	}
	m.worker = p
	m.waitWorker(t, true)
}

// Restart stops the master cleanly, as `buildbot restart` does, starts it
// again on the same ports and database, and returns once the worker is
// back. The worker is restarted too: left alone it would come back only
// after its reconnect back-off, many seconds later.
//
// A build that is running a step when the master stops ends CANCELLED
// ("Master Shutdown") and its request completes; one still preparing its
// worker, or between two steps, ends RETRY and its request is built again.
// Restart first waits until each running build has been in a step for a
// second, so that the outcome is the former unless that step ends just
// then.
func (m *Master) Restart(t testing.TB) {
	t.Helper()
	m.waitBuilds(t, inStep)
	if !m.master.stop(stopGrace) {
		t.Fatalf("buildbot3: the master did not stop within %s\nmaster twistd.log ends:\n%s", stopGrace, tail(m.masterLog(), logTailLines))
	}
	if m.worker != nil {
		m.worker.kill()
		m.worker = nil
	}
	if err := m.startMaster(); err != nil {
		t.Fatalf("buildbot3: restart: %v\nmaster twistd.log ends:\n%s", err, tail(m.masterLog(), logTailLines))
	}
	m.StartWorker(t)
}

// startMaster starts the master and waits until it says it is running and
// its REST API answers.
func (m *Master) startMaster() error {
	p, err := startProc(m.masterDir(), "stdout.log", m.env, "buildbot", "start", "--nodaemon", m.masterDir())
	if err != nil {
		return fmt.Errorf("start master: %w", err)
	}
	m.master = p
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			return fmt.Errorf("the master exited during start-up (%v)", p.err)
		}
		if n := strings.Count(readString(m.masterLog()), masterRunning); n > m.startedAt {
			if err := apiGet(m.APIURL()+"api/v2/builders", nil); err == nil {
				m.startedAt = n
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("the master's REST API at %s did not answer within %s", m.APIURL(), startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWorker waits until the master sees the worker connected (or not).
func (m *Master) waitWorker(t testing.TB, connected bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		var reply struct {
			Workers []struct {
				ConnectedTo []any `json:"connected_to"`
			} `json:"workers"`
		}
		err := apiGet(m.APIURL()+"api/v2/workers?name="+workerName, &reply)
		if err == nil && len(reply.Workers) == 1 && (len(reply.Workers[0].ConnectedTo) > 0) == connected {
			return
		}
		if connected && m.worker != nil && m.worker.exited() {
			t.Fatalf("buildbot3: the worker exited during start-up (%v)\nworker twistd.log ends:\n%s",
				m.worker.err, tail(filepath.Join(m.workerDir(), "twistd.log"), logTailLines))
		}
		if time.Now().After(deadline) {
			state := "connected"
			if !connected {
				state = "disconnected"
			}
			t.Fatalf("buildbot3: the master did not see the worker %s within %s (last error: %v)\nmaster twistd.log ends:\n%s\nworker twistd.log ends:\n%s",
				state, startTimeout, err, tail(m.masterLog(), logTailLines), tail(filepath.Join(m.workerDir(), "twistd.log"), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pythonEnv is the environment of the buildbot processes: the stand-in
// buildbot_www on the path, and nothing from a Python set up for other
// work (a pyenv's PYTHONPATH or PYTHONHOME would break Debian's buildbot).
// No bytecode is written, so the fixture directory stays clean.
func pythonEnv(root string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"PYTHONPATH="+filepath.Join(root, "internal", "testenv", "buildbotfixture"),
		"PYTHONDONTWRITEBYTECODE=1")
}

// repoRoot walks up from this source file to go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("buildbot3: cannot locate the repository")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("buildbot3: no go.mod above %s", file)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("buildbot3: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func run(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buildbot3: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("buildbot3: %v", err)
	}
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// create-master spends seconds creating the database schema, the same
// every time, so one created master directory is copied for the next
// masters of the test binary. It lives in the TempDir of the test that
// made it and is forgotten before that directory goes.
var template struct {
	sync.Mutex
	dir string
}

func copyTemplate(t testing.TB, dst string) {
	t.Helper()
	template.Lock()
	defer template.Unlock()
	if template.dir == "" {
		dir := filepath.Join(t.TempDir(), "template")
		run(t, filepath.Dir(dir), pythonEnv(repoRoot(t)), "buildbot", "create-master", "-r", dir)
		template.dir = dir
		t.Cleanup(func() {
			template.Lock()
			template.dir = ""
			template.Unlock()
		})
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatalf("buildbot3: %v", err)
	}
	// buildbot.tac (made with -r, so it finds its directory itself) and
	// the empty database; master.cfg.sample is not needed.
	for _, name := range []string{"buildbot.tac", "state.sqlite"} {
		b, err := os.ReadFile(filepath.Join(template.dir, name))
		if err != nil {
			t.Fatalf("buildbot3: master template: %v", err)
		}
		writeFile(t, filepath.Join(dst, name), b)
	}
}
