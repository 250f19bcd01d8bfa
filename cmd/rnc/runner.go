package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

// rncRoot finds the rnc source tree that generated packages build
// against: $RNC_ROOT, or the enclosing module github.com/rnc-dev/rnc.
// Outside it (an installed rnc), buildRunner builds on a copy of the
// runtime embedded in rnc instead.
func rncRoot() (string, error) {
	if r := os.Getenv("RNC_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/rnc-dev/rnc\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("building generated code needs the rnc source tree: run rnc inside it or set RNC_ROOT")
		}
		dir = parent
	}
}

// runnerMain is the program `rnc run` and `rnc bench` build next to the
// generated package (package model) and the peak package.
//
//go:embed templates/runner_main.go.txt
var runnerMain string

// runner is a built runner binary for one model.
type runner struct {
	dir, bin   string
	unregister func()
}

// Close removes the runner's directory.
func (r *runner) Close() {
	os.RemoveAll(r.dir)
	if r.unregister != nil {
		r.unregister()
	}
}

// buildRunner compiles g for targets into a temporary module with the
// runner program, and builds it. check, when not nil, vets the generated
// package before anything is written or built.
func buildRunner(g *ir.Graph, targets []passes.Target, cfg passes.Config, source string, check func(*codegen.Result) error) (*runner, error) {
	// In the rnc tree (or with RNC_ROOT) the runner builds against that
	// source; elsewhere against a copy of the runtime embedded in rnc,
	// which needs only its dependencies (rncsrc.Deps: golang.org/x/sys and
	// the unpickler) from the module proxy or cache.
	root, rootErr := rncRoot()
	opts := codegen.Options{Package: "model", Targets: targets, Pipeline: cfg, Source: source}
	const copyPath = "rncrun/model/runtime"
	if rootErr != nil {
		opts.Runtime = copyPath
	}
	res, err := codegen.Generate(g, opts)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(res); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "rnc-run-")
	if err != nil {
		return nil, err
	}
	r := &runner{dir: dir, bin: filepath.Join(dir, "runner")}
	r.unregister = atInterrupt(func() { os.RemoveAll(dir) })
	fail := func(err error) (*runner, error) {
		r.Close()
		return nil, err
	}
	files, err := moduleFiles("rncrun", root, rootErr, copyPath, res)
	if err != nil {
		return fail(err)
	}
	main := []byte(runnerMain)
	if rootErr != nil {
		if main, err = rncsrc.RewriteImports("main.go", main, copyPath); err != nil {
			return fail(err)
		}
	}
	files["main.go"] = main
	pk, err := codegen.PeakPackage("peak")
	if err != nil {
		return fail(err)
	}
	for name, data := range pk {
		files[filepath.Join("peak", name)] = data
	}
	if err := buildIn(dir, files, r.bin, ".", "the generated package"); err != nil {
		return fail(err)
	}
	return r, nil
}

// buildIn writes files (paths relative to dir) into the temporary module
// dir and builds its package pkg into bin; what names it in the error.
func buildIn(dir string, files map[string][]byte, bin, pkg, what string) error {
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", what, err, out)
	}
	return nil
}

// moduleFiles are the files of a temporary module modPath holding the
// generated package res under model/ (its test left out): on rnc's source
// tree at root when rootErr is nil (a replace directive and rnc's go.sum),
// else on a copy of rnc's runtime at copyPath built on rnc's own
// requirements and checksums (rncsrc.GoMod, rncsrc.GoSum), the versions
// rnc is tested with, whatever this binary links.
func moduleFiles(modPath, root string, rootErr error, copyPath string, res *codegen.Result) (map[string][]byte, error) {
	files := map[string][]byte{}
	if rootErr == nil {
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		if err != nil {
			return nil, err
		}
		files["go.mod"] = fmt.Appendf(nil, "module %s\n\ngo 1.26\n\nrequire github.com/rnc-dev/rnc v0.0.0\n\nreplace github.com/rnc-dev/rnc => %s\n", modPath, root)
		files["go.sum"] = sum
	} else {
		mf, err := modfile.ParseLax("go.mod", rncsrc.GoMod, nil)
		if err != nil {
			return nil, fmt.Errorf("rnc's own go.mod: %w", err)
		}
		gomod := "module " + modPath + "\n\ngo 1.26\n"
		for _, r := range mf.Require {
			gomod += "\nrequire " + r.Mod.Path + " " + r.Mod.Version + "\n"
		}
		files["go.mod"], files["go.sum"] = []byte(gomod), rncsrc.GoSum
		rt, err := rncsrc.RuntimeCopy(copyPath, codegen.Header)
		if err != nil {
			return nil, err
		}
		for name, data := range rt {
			files[filepath.Join("model", "runtime", filepath.FromSlash(name))] = data
		}
	}
	for name, data := range res.Files {
		if name != "model_test.go" {
			files[filepath.Join("model", name)] = data
		}
	}
	return files, nil
}

// run runs the runner with arguments and returns its standard output.
func (r *runner) run(env []string, args ...string) (string, error) {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
