// Package deploycheck checks the deployment files at the repository's root
// (docker-compose.yml, Dockerfile, deploy/config.json) without a Docker
// engine: compose-go loads and validates the compose file as `docker
// compose` would, BuildKit's parser reads the Dockerfile, and the tests
// cross-check the three against each other.
package deploycheck

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is the repository's top folder, where docker compose runs.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(here), "..", ".."))
}

// loadCompose loads docker-compose.yml as `docker compose` does from the
// repository's root, with env as the only environment (so the host's
// variables cannot leak in), validating it against the compose-spec schema
// and checking that references between services resolve.
func loadCompose(t testing.TB, env map[string]string, extra ...cli.ProjectOptionsFn) (*types.Project, error) {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	root := repoRoot(t)
	opts := append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithEnv(list),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	}, extra...)
	po, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return po.LoadProject(ctx)
}

// deployEnv is what an operator exports before `docker compose up`.
var deployEnv = map[string]string{"TASKCLUSTER_ACCESS_TOKEN": "tok-from-the-operators-shell"}

func mustLoadCompose(t testing.TB) *types.Project {
	t.Helper()
	p, err := loadCompose(t, deployEnv)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func service(t testing.TB, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

// deployConfig is the part of deploy/config.json that names other services.
type deployConfig struct {
	SchedulerDB string `json:"buildbot_scheduler_db"`
	PulseURL    string `json:"pulse_url"`
	Temporal    struct {
		Address   string `json:"address"`
		Namespace string `json:"namespace"`
		TaskQueue string `json:"task_queue"`
	} `json:"temporal"`
	Worker struct {
		Listen string `json:"listen"`
	} `json:"worker"`
	Starter struct {
		Listen string `json:"listen"`
	} `json:"starter"`
}

func readDeployConfig(t testing.TB) deployConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c deployConfig
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("deploy/config.json: %v", err)
	}
	return c
}

func splitHostPort(t testing.TB, what, hostport string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%s %q: %v", what, hostport, err)
	}
	return h, p
}
