package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// readmeSection returns the steps of README.md's section "Using the
// generated package in your module" as one shell script: its indented
// command blocks, and its Go block written to main.go where it stands.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(path("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Using the generated package in your module\n")
	if !ok {
		t.Fatal("README.md has no section \"Using the generated package in your module\"")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var script strings.Builder
	script.WriteString("set -eu\n")
	lines := strings.Split(sec, "\n")
	goBlocks, commands := 0, 0
	for i := 0; i < len(lines); i++ {
		switch l := lines[i]; {
		case l == "```go":
			script.WriteString("cat > main.go <<'END_OF_MAIN'\n")
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				script.WriteString(lines[i] + "\n")
			}
			script.WriteString("END_OF_MAIN\n")
			goBlocks++
		case strings.HasPrefix(l, "    "):
			script.WriteString(strings.TrimPrefix(l, "    ") + "\n")
			commands++
		}
	}
	if goBlocks != 1 || commands < 5 {
		t.Fatalf("README's section has %d Go blocks and %d command lines, want one main.go and the steps:\n%s", goBlocks, commands, script.String())
	}
	return script.String()
}

// TestUsingGeneratedPackage runs the README's steps "Using the generated
// package in your module" in a new module outside the rnc tree, with the
// rnc that the README's `go install ./cmd/rnc` installs: go mod init, rnc
// compile of tinyv2, main.go, go mod tidy, go run. The program reproduces
// the golden outputs (PyTorch's) to 1e-5; go.mod has no replace directive
// and requires golang.org/x/sys only; the package's dependencies are its
// copy of the runtime, the standard library and golang.org/x/sys; go vet
// passes on all of it. go mod tidy takes golang.org/x/sys from the module
// cache (as a GOPROXY), which building this test filled: no network.
func TestUsingGeneratedPackage(t *testing.T) {
	readme, err := os.ReadFile(path("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("`go install ./cmd/rnc`")) {
		t.Fatal("README.md does not say `go install ./cmd/rnc`")
	}
	script := readmeSection(t)
	tmp := t.TempDir()
	repo, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	// The README's clone of rnc, beside the new module.
	if err := os.Symlink(repo, filepath.Join(tmp, "rnc")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "bin")
	gocmd := func(dir string, env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %s in %s: %v\n%s%s", strings.Join(args, " "), dir, err, out, stderr)
		}
		return string(out)
	}
	gocmd(repo, []string{"GOBIN=" + bin}, "install", "./cmd/rnc")
	modcache := strings.TrimSpace(gocmd(tmp, nil, "env", "GOMODCACHE"))
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GOPROXY=file://" + filepath.ToSlash(filepath.Join(modcache, "cache", "download")),
		"GONOSUMDB=golang.org/x/sys,github.com/nlpodyssey/gopickle",
		"GOFLAGS=-mod=readonly", // go run must not add what go mod tidy did not
		"GOWORK=off",
	}

	sh := exec.Command("sh", "-c", script)
	sh.Dir = tmp
	sh.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	if err := sh.Run(); err != nil {
		t.Fatalf("the README's steps: %v\n%s\nstdout:\n%s\nstderr:\n%s", err, script, stdout.String(), stderr.String())
	}
	app := filepath.Join(tmp, "app")

	// The outputs: one line "[p0 p1 ...]" per image.
	var got []float32
	for _, l := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(l, "[") {
			continue
		}
		for _, f := range strings.Fields(strings.Trim(l, "[]")) {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil {
				t.Fatalf("output %q: %v", l, err)
			}
			got = append(got, float32(v))
		}
	}
	want, _, err := npy.Read(path("testdata/golden/tinyv2_expected_b2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("go run printed %d values, want %d:\n%s", len(got), len(want), stdout.String())
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
			t.Errorf("output %d: %g, golden %g (diff %.2g)", i, got[i], want[i], d)
		}
	}

	// go.mod: no replace; the runtime copy's two requirements: golang.org/x/sys
	// (CPU features) and gopickle (PyTorch checkpoints, runtime/pytorch).
	gm, err := os.ReadFile(filepath.Join(app, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", gm, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, r := range mf.Require {
		reqs = append(reqs, r.Mod.Path)
	}
	if len(mf.Replace) != 0 || !slices.Equal(reqs, []string{"github.com/nlpodyssey/gopickle", "golang.org/x/sys"}) {
		t.Errorf("go.mod after go mod tidy: want no replace and gopickle and golang.org/x/sys required, got\n%s", gm)
	}

	// The dependencies: the package, its copy of the runtime, the standard
	// library, golang.org/x/sys and gopickle.
	deps := gocmd(app, env, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
	for _, d := range strings.Fields(deps) {
		if strings.HasPrefix(d, "[") {
			continue // the test variant of the package before it
		}
		first, _, _ := strings.Cut(d, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(d, "golang.org/x/sys/") && !strings.HasPrefix(d, "github.com/nlpodyssey/gopickle/") && !strings.HasPrefix(d, "example.com/app") {
			t.Errorf("the app depends on %s", d)
		}
	}
	for _, p := range []string{"example.com/app/gen/tinyv2/runtime", "example.com/app/gen/tinyv2/runtime/npy", "example.com/app/gen/tinyv2/runtime/hdf5", "example.com/app/gen/tinyv2/runtime/internal/fileio", "example.com/app/gen/tinyv2/runtime/internal/lookup3", "golang.org/x/sys/cpu"} {
		if !slices.Contains(strings.Fields(deps), p) {
			t.Errorf("the app does not depend on %s:\n%s", p, deps)
		}
	}
	gocmd(app, env, "vet", "./...")

	// Every copied file says it was generated and where it comes from.
	rt := filepath.Join(app, "gen", "tinyv2", "runtime")
	n := 0
	filepath.WalkDir(rt, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte(codegen.Header+"\n"+rncsrc.CopyLine)) {
			t.Errorf("%s does not start with rnc's header and copy line (%v)", p, err)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no files in %s", rt)
	}
	if b, _ := os.ReadFile(filepath.Join(app, "gen", "tinyv2", "model.go")); !bytes.Contains(b, []byte("golang.org/x/sys: run go mod tidy")) {
		t.Errorf("the package's doc comment does not say what the copy needs:\n%s", b)
	}
}
