package buildbot3

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
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
	// WWWPort (web server and REST API) and PBPort (workers) are the
	// master's ports on 127.0.0.1; 0 picks a free one (Restart keeps it).
	WWWPort, PBPort int
}

// Auth is the one user the master knows.
type Auth struct{ User, Password string }

// Master is a running master with one connected worker. Its methods are
// for one goroutine at a time.
type Master struct {
	opts    Options
	dir     string // holds master/ and worker/
	env     []string
	wwwPort int
	pbPort  int
	master  *proc
	worker  *proc
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
	dir := t.TempDir()
	if err := checkInstalled(); err != nil {
		t.Fatal(err)
	}
	// Launch then reuses the copy instead of running create-master.
	copyTemplate(t, filepath.Join(dir, "master"))
	m, err := Launch(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("buildbot3: tail of master twistd.log:\n%s", tail(m.masterLog(), logTailLines))
			t.Logf("buildbot3: tail of worker twistd.log:\n%s", tail(filepath.Join(m.workerDir(), "twistd.log"), 20))
		}
		m.Kill()
	})
	return m
}

// Launch is Start for a program: it starts a master and a worker under dir
// (dir/master and dir/worker) and returns once the REST API answers and
// the worker is connected. A master directory left by an earlier Launch
// is reused, database included, so the master carries on with its builds
// and requests; master.cfg, taskcluster_bridge.py and the worker's
// connection settings are rewritten from opts every time. On error
// nothing it started is left running. The caller stops the processes,
// with KillWorker and Shutdown or with Kill.
func Launch(dir string, opts Options) (m *Master, err error) {
	if len(opts.Builders) == 0 {
		return nil, errors.New("buildbot3: Options.Builders is empty")
	}
	if err := checkInstalled(); err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	m = &Master{opts: opts, dir: dir, env: pythonEnv(root)}
	defer func() {
		if err != nil {
			m.Kill()
			m = nil
		}
	}()
	if err := os.MkdirAll(m.masterDir(), 0o755); err != nil {
		return nil, fmt.Errorf("buildbot3: %w", err)
	}
	if _, err := os.Stat(filepath.Join(m.masterDir(), "buildbot.tac")); errors.Is(err, fs.ErrNotExist) {
		if err := runCmd(m.dir, m.env, "buildbot", "create-master", "-r", m.masterDir()); err != nil {
			return nil, err
		}
	}
	bridgeModule, err := os.ReadFile(filepath.Join(root, "contrib", "buildbot", "taskcluster_bridge.py"))
	if err != nil {
		return nil, fmt.Errorf("buildbot3: %w", err)
	}
	if err := os.WriteFile(filepath.Join(m.masterDir(), "taskcluster_bridge.py"), bridgeModule, 0o644); err != nil {
		return nil, fmt.Errorf("buildbot3: %w", err)
	}

	// A port picked free may be taken before the master binds it; the
	// master then dies at once and another pair is tried. A port given in
	// opts is not replaced.
	for attempt := 1; ; attempt++ {
		if m.wwwPort, err = portOr(opts.WWWPort); err != nil {
			return nil, err
		}
		if m.pbPort, err = portOr(opts.PBPort); err != nil {
			return nil, err
		}
		// master.cfg may hold the push and login passwords.
		if err := os.WriteFile(filepath.Join(m.masterDir(), "master.cfg"), []byte(masterCfg(opts, m.wwwPort, m.pbPort)), 0o600); err != nil {
			return nil, fmt.Errorf("buildbot3: %w", err)
		}
		logStart := logSize(m.masterLog())
		err := m.startMaster()
		if err == nil {
			break
		}
		freePicked := opts.WWWPort == 0 || opts.PBPort == 0
		if freePicked && attempt < portAttempts && strings.Contains(readSince(m.masterLog(), logStart), "Address already in use") {
			continue
		}
		return nil, fmt.Errorf("buildbot3: %w\nmaster twistd.log ends:\n%s", err, tail(m.masterLog(), logTailLines))
	}

	// The worker's buildbot.tac names the master's port, which may have
	// changed since the directory was made; create-worker --force keeps
	// the builders' directories but will not overwrite buildbot.tac.
	for _, name := range []string{"buildbot.tac", "buildbot.tac.new"} {
		if err := os.Remove(filepath.Join(m.workerDir(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("buildbot3: %w", err)
		}
	}
	if err := runCmd(m.dir, m.env, "buildbot-worker", "create-worker", "--force", "-r", m.workerDir(),
		fmt.Sprintf("127.0.0.1:%d", m.pbPort), workerName, workerPassword); err != nil {
		return nil, err
	}
	if err := m.startWorker(); err != nil {
		return nil, err
	}
	return m, nil
}

func checkInstalled() error {
	for _, tool := range []string{"buildbot", "buildbot-worker"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("buildbot3: %s is not installed; run `bash scripts/services.sh` (it installs Debian's buildbot and buildbot-worker)", tool)
		}
	}
	return nil
}

// portOr is port, or a free one if it is 0.
func portOr(port int) (int, error) {
	if port != 0 {
		return port, nil
	}
	return freePort()
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
	if err := m.waitBuilds(pastPreparation); err != nil {
		t.Fatal(err)
	}
	m.worker.kill()
	m.worker = nil
	if err := m.waitWorker(false); err != nil {
		t.Fatal(err)
	}
}

// KillWorker is StopWorker for a program, which also returns only once
// the master has finished the worker's builds (as RETRY): a master told
// to stop while it still tears them down fails its clean shutdown (an
// AttributeError in Buildbot 3.7) and never exits. If the running builds
// do not get past their preparation in time it kills the worker all the
// same and says so: a program stopping must not hang on it.
func (m *Master) KillWorker() error {
	if m.worker == nil {
		return nil
	}
	waitErr := m.waitBuilds(pastPreparation)
	m.worker.kill()
	m.worker = nil
	if waitErr != nil {
		return fmt.Errorf("%w; killed the worker anyway, such a build may stay unfinished", waitErr)
	}
	if err := m.waitWorker(false); err != nil {
		return err
	}
	return m.waitNoBuilds(stopGrace)
}

// waitNoBuilds waits until the master has no unfinished build.
func (m *Master) waitNoBuilds(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var reply struct {
			Builds []struct{} `json:"builds"`
		}
		err := apiGet(m.APIURL()+"api/v2/builds?complete=false", &reply)
		if err == nil && len(reply.Builds) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("buildbot3: the master still has %d unfinished builds %s after losing its worker (last error: %v)", len(reply.Builds), timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartWorker starts the worker again and returns once it is connected.
func (m *Master) StartWorker(t testing.TB) {
	t.Helper()
	if err := m.startWorker(); err != nil {
		t.Fatal(err)
	}
}

func (m *Master) startWorker() error {
	if m.worker != nil {
		return nil
	}
	p, err := startProc(m.workerDir(), "stdout.log", m.env, "buildbot-worker", "start", "--nodaemon", m.workerDir())
	if err != nil {
		return fmt.Errorf("buildbot3: start worker: %w", err)
	}
	m.worker = p
	return m.waitWorker(true)
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
	if err := m.waitBuilds(inStep); err != nil {
		t.Fatal(err)
	}
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

// Shutdown stops the master cleanly, as `buildbot stop` does, after
// KillWorker if the worker still runs: the worker's running builds end
// RETRY and their requests wait, pending, in the database, to be built at
// the next start.
func (m *Master) Shutdown() error {
	var workerErr error
	if m.worker != nil {
		workerErr = m.KillWorker()
	}
	if m.master == nil {
		return workerErr
	}
	clean := m.master.stop(stopGrace)
	m.master = nil
	if !clean {
		return fmt.Errorf("buildbot3: the master did not stop within %s and was killed", stopGrace)
	}
	return workerErr
}

// Kill kills the worker and the master at once, with their children.
func (m *Master) Kill() {
	if m.worker != nil {
		m.worker.kill()
		m.worker = nil
	}
	if m.master != nil {
		m.master.kill()
		m.master = nil
	}
}

// startMaster starts the master and waits until it says it is running and
// its REST API answers.
func (m *Master) startMaster() error {
	// A reused directory's log already says the master was running.
	logStart := logSize(m.masterLog())
	p, err := startProc(m.masterDir(), "stdout.log", m.env, "buildbot", "start", "--nodaemon", m.masterDir())
	if err != nil {
		return fmt.Errorf("start master: %w", err)
	}
	m.master = p
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			m.master = nil
			return fmt.Errorf("the master exited during start-up (%v)", p.err)
		}
		if strings.Contains(readSince(m.masterLog(), logStart), masterRunning) {
			if err := apiGet(m.APIURL()+"api/v2/builders", nil); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			m.master = nil
			return fmt.Errorf("the master's REST API at %s did not answer within %s", m.APIURL(), startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWorker waits until the master sees the worker connected (or not).
func (m *Master) waitWorker(connected bool) error {
	deadline := time.Now().Add(startTimeout)
	for {
		var reply struct {
			Workers []struct {
				ConnectedTo []any `json:"connected_to"`
			} `json:"workers"`
		}
		err := apiGet(m.APIURL()+"api/v2/workers?name="+workerName, &reply)
		if err == nil && len(reply.Workers) == 1 && (len(reply.Workers[0].ConnectedTo) > 0) == connected {
			return nil
		}
		if connected && m.worker != nil && m.worker.exited() {
			return fmt.Errorf("buildbot3: the worker exited during start-up (%v)\nworker twistd.log ends:\n%s",
				m.worker.err, tail(filepath.Join(m.workerDir(), "twistd.log"), logTailLines))
		}
		if time.Now().After(deadline) {
			state := "connected"
			if !connected {
				state = "disconnected"
			}
			return fmt.Errorf("buildbot3: the master did not see the worker %s within %s (last error: %v)\nmaster twistd.log ends:\n%s\nworker twistd.log ends:\n%s",
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
		"PYTHONPATH="+standInPath(root),
		"PYTHONDONTWRITEBYTECODE=1")
}

// standInPath is the directory, under the repository root, of the
// buildbot_www stand-in that the master runs with (see the package
// documentation).
func standInPath(root string) string {
	return filepath.Join(root, "internal", "testenv", "buildbotfixture")
}

// repoRoot walks up from this source file to go.mod. A program built from
// the repository finds it too: the path is the one it was compiled from.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("buildbot3: cannot locate the repository")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("buildbot3: no go.mod above %s (was the program built from the repository, without -trimpath?)", file)
		}
	}
}

// freePort is a port for the master, which is told its ports in master.cfg.
func freePort() (int, error) {
	addr, err := freeport.On("127.0.0.1")
	if err != nil {
		return 0, fmt.Errorf("buildbot3: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return strconv.Atoi(port)
}

func runCmd(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("buildbot3: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func run(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	if err := runCmd(dir, env, name, args...); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("buildbot3: %v", err)
	}
}

// logSize is how far the log goes now: what a start writes comes after.
func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readSince is the log from offset on, or all of it if it was rotated
// (shorter than offset) since.
func readSince(path string, offset int64) string {
	b, _ := os.ReadFile(path)
	if int64(len(b)) < offset {
		return string(b)
	}
	return string(b[offset:])
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
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "template")
		run(t, filepath.Dir(dir), pythonEnv(root), "buildbot", "create-master", "-r", dir)
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
