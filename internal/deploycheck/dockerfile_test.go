package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction as BuildKit parsed it.
type instruction struct {
	cmd   string // lower case: from, run, copy, user...
	flags []string
	args  []string
	line  int
}

// stage is one FROM ... section.
type stage struct {
	name, base string
	body       []instruction
}

// dockerfileStages parses the repository's Dockerfile with BuildKit's own
// parser, the one `docker build` uses, and fails on its warnings too.
func dockerfileStages(t testing.TB) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s (%s)", w.Short, w.URL)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := stage{base: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("Dockerfile line %d: %s before FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return stages
}

var goBuild = regexp.MustCompile(`go build\b[^&;]*?-o\s+(\S+)\s+(\./\S+)`)

// builtBinaries maps each `go build -o OUT ./pkg` of a stage: OUT → ./pkg.
func builtBinaries(s stage) map[string]string {
	out := map[string]string{}
	for _, in := range s.body {
		if in.cmd != "run" {
			continue
		}
		for _, m := range goBuild.FindAllStringSubmatch(strings.Join(in.args, " "), -1) {
			out[m[1]] = m[2]
		}
	}
	return out
}

// imageBinaries lists the paths of the Go binaries in the final image: what
// the build stages compiled, where the last stage's COPY --from put them.
func imageBinaries(t testing.TB) []string {
	t.Helper()
	stages := dockerfileStages(t)
	final := stages[len(stages)-1]
	var paths []string
	for _, in := range final.body {
		if in.cmd != "copy" || len(in.args) < 2 {
			continue
		}
		var from string
		for _, f := range in.flags {
			if v, ok := strings.CutPrefix(f, "--from="); ok {
				from = v
			}
		}
		for _, s := range stages[:len(stages)-1] {
			if s.name != from {
				continue
			}
			dst := in.args[len(in.args)-1]
			for bin := range builtBinaries(s) {
				for _, src := range in.args[:len(in.args)-1] {
					switch {
					case src == bin:
						paths = append(paths, dst)
					case strings.HasSuffix(src, "/") && filepath.Dir(bin)+"/" == src:
						paths = append(paths, filepath.Join(dst, filepath.Base(bin)))
					}
				}
			}
		}
	}
	slices.Sort(paths)
	return paths
}

// runtimePackages lists what the final stage installs with apt-get.
func runtimePackages(t testing.TB) []string {
	t.Helper()
	stages := dockerfileStages(t)
	var pkgs []string
	for _, in := range stages[len(stages)-1].body {
		if in.cmd != "run" {
			continue
		}
		for _, cmd := range regexp.MustCompile(`&&|;`).Split(strings.Join(in.args, " "), -1) {
			f := strings.Fields(cmd)
			if len(f) < 2 || f[0] != "apt-get" || !slices.Contains(f, "install") {
				continue
			}
			for _, w := range f[slices.Index(f, "install")+1:] {
				if !strings.HasPrefix(w, "-") {
					pkgs = append(pkgs, w)
				}
			}
		}
	}
	return pkgs
}

func TestDockerfileBuildsWorkerAndStarter(t *testing.T) {
	stages := dockerfileStages(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s); want a Go build stage and a small runtime stage", len(stages))
	}
	built := map[string]bool{}
	for _, s := range stages[:len(stages)-1] {
		for _, pkg := range builtBinaries(s) {
			built[pkg] = true
		}
		if strings.HasPrefix(s.base, "golang:") && !strings.HasPrefix(s.base, "golang:1.26") {
			t.Errorf("build stage FROM %s; go.mod needs Go 1.26", s.base)
		}
	}
	for _, pkg := range []string{"./worker", "./starter"} {
		if !built[pkg] {
			t.Errorf("the Dockerfile does not `go build` %s", pkg)
		}
	}
	if got, want := imageBinaries(t), []string{"/usr/local/bin/bbb-starter", "/usr/local/bin/bbb-worker"}; !slices.Equal(got, want) {
		t.Errorf("binaries in the final image: %v, want %v", got, want)
	}
	if final := stages[len(stages)-1]; strings.HasPrefix(final.base, "golang") {
		t.Errorf("the runtime image is %s: the Go toolchain would ship with the bridge", final.base)
	}
}

func TestDockerfileRunsAsNonRoot(t *testing.T) {
	stages := dockerfileStages(t)
	final := stages[len(stages)-1]
	user := ""
	for _, in := range final.body {
		if in.cmd == "user" && len(in.args) > 0 {
			user = in.args[0]
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("the final image runs as %q; want a non-root USER", user)
	}
}
