package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
)

// TestCompileRuntimeCopy: in a module other than rnc, compile copies the
// runtime into DIR/runtime and the package imports the copy; the copy's
// files follow the package's rules (a user's file or a symbolic link among
// them is refused and nothing is written; stale copied files are removed,
// a user's are kept); --runtime import drops the copy. Outside any module
// compile asks for go mod init; inside rnc it imports rnc's runtime.
func TestCompileRuntimeCopy(t *testing.T) {
	model := path("models/tinyv1.rn")
	mod := t.TempDir()
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/m // the module\n\ngo 1.26\n"), 0o644)
	dir := filepath.Join(mod, "gen", "tiny")
	rt := filepath.Join(dir, "runtime")
	compile := func(args ...string) (string, error) {
		return rnc(t, append([]string{"compile", model, "-o", dir, "--target", "generic"}, args...)...)
	}
	out, err := compile()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "wrote a copy of rnc's runtime to "+rt+": ") || !strings.Contains(out, "imported as example.com/m/gen/tiny/runtime") {
		t.Errorf("output:\n%s", out)
	}
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}
	if s := read(filepath.Join(dir, "model.go")); !strings.Contains(s, "\t\"example.com/m/gen/tiny/runtime\"\n") || strings.Contains(s, "rnc-dev") {
		t.Errorf("model.go does not import the copy:\n%.1500s", s)
	}
	if s := read(filepath.Join(dir, "model_test.go")); !strings.Contains(s, "\"example.com/m/gen/tiny/runtime/npy\"") || strings.Contains(s, "rnc-dev") {
		t.Errorf("model_test.go does not import the copy's npy:\n%.800s", s)
	}
	copied, err := rncsrc.RuntimeCopy("example.com/m/gen/tiny/runtime", codegen.Header)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range copied {
		if read(filepath.Join(rt, filepath.FromSlash(name))) != string(data) {
			t.Errorf("runtime/%s is not the copy", name)
		}
	}
	if s := read(filepath.Join(rt, "hdf5", "fheap.go")); !strings.Contains(s, "import \"example.com/m/gen/tiny/runtime/internal/lookup3\"") {
		t.Errorf("runtime/hdf5/fheap.go:\n%.400s", s)
	}

	// Stale copied files go; a user's file and a generated file that is not
	// a copy stay.
	stale := filepath.Join(rt, "npy", "old.go")
	os.WriteFile(stale, []byte(codegen.Header+"\n"+rncsrc.CopyLine+"runtime/npy/old.go.\n\npackage npy\n"), 0o644)
	mine := filepath.Join(rt, "mine.go")
	os.WriteFile(mine, []byte("package runtime\n"), 0o644)
	notCopy := filepath.Join(rt, "internal", "gen.go")
	os.WriteFile(notCopy, []byte(codegen.Header+"\n\npackage internal\n"), 0o644)
	out, err = compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil || !strings.Contains(out, "removed "+stale+", left over") {
		t.Errorf("the stale copied file was not removed:\n%s", out)
	}
	for _, p := range []string{mine, notCopy} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}

	// A user's file where the copy goes, or a link among its directories:
	// refused, and nothing is written.
	before := read(filepath.Join(dir, "program.go"))
	user := filepath.Join(rt, "pool.go")
	os.WriteFile(user, []byte("package runtime\n"), 0o644)
	_, err = compile("--set", "classes=7")
	if err == nil || !strings.Contains(err.Error(), user+" exists and was not written by rnc") {
		t.Errorf("compile over a user's runtime/pool.go: %v", err)
	}
	if read(filepath.Join(dir, "program.go")) != before || read(user) != "package runtime\n" {
		t.Errorf("files were written although the compile was refused")
	}
	os.Remove(user)
	outside := t.TempDir()
	os.RemoveAll(filepath.Join(rt, "npy"))
	if err := os.Symlink(outside, filepath.Join(rt, "npy")); err != nil {
		t.Fatal(err)
	}
	_, err = compile("--set", "classes=7")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(rt, "npy")+" is a symbolic link") {
		t.Errorf("compile through a symlinked runtime/npy: %v", err)
	}
	if names := dirNames(t, outside); len(names) != 0 || read(filepath.Join(dir, "program.go")) != before {
		t.Errorf("files were written although the compile was refused (outside the link: %v)", names)
	}
	os.Remove(filepath.Join(rt, "npy"))

	// --runtime import: the package imports rnc's runtime and the copy is
	// removed, but not the user's file in it.
	if _, err := compile(); err != nil {
		t.Fatal(err)
	}
	if _, err := compile("--runtime", "import"); err != nil {
		t.Fatal(err)
	}
	if s := read(filepath.Join(dir, "model.go")); !strings.Contains(s, "\t\"github.com/rnc-dev/rnc/runtime\"\n") || strings.Contains(s, "copy of rnc's runtime") {
		t.Errorf("model.go with --runtime import:\n%.1000s", s)
	}
	if got := dirNames(t, rt); !slices.Equal(got, []string{"internal", "mine.go"}) {
		t.Errorf("runtime/ after --runtime import: %v, want internal (holding gen.go) and mine.go", got)
	}
	if got := dirNames(t, filepath.Join(rt, "internal")); !slices.Equal(got, []string{"gen.go"}) {
		t.Errorf("runtime/internal after --runtime import: %v, want gen.go", got)
	}

	// No module, a path Go does not accept, a bad --runtime.
	nomod := filepath.Join(t.TempDir(), "gen")
	_, err = rnc(t, "compile", model, "-o", nomod)
	if err == nil || !strings.Contains(err.Error(), nomod+" is in no Go module") || !strings.Contains(err.Error(), "run go mod init") {
		t.Errorf("compile outside a module: %v", err)
	}
	if _, err := os.Stat(nomod); err == nil {
		t.Errorf("%s was written", nomod)
	}
	_, err = rnc(t, "compile", model, "-o", filepath.Join(mod, "a b"), "--pkg", "ab")
	if err == nil || !strings.Contains(err.Error(), `would have the import path "example.com/m/a b/runtime"`) {
		t.Errorf("compile into a directory with a space: %v", err)
	}
	_, err = rnc(t, "compile", model, "-o", dir, "--runtime", "vendor")
	if err == nil || !strings.Contains(err.Error(), "--runtime vendor: want auto, copy or import") {
		t.Errorf("--runtime vendor: %v", err)
	}

	// Inside the rnc module, auto imports rnc's runtime (the committed
	// example stays as it is); copy copies.
	ex := path("examples/classify/resnet50v2")
	if p, err := copiedRuntime(ex, "auto"); err != nil || p != "" {
		t.Errorf("auto in the rnc module: %q, %v; want rnc's runtime", p, err)
	}
	if p, err := copiedRuntime(ex, "copy"); err != nil || p != "github.com/rnc-dev/rnc/examples/classify/resnet50v2/runtime" {
		t.Errorf("copy in the rnc module: %q, %v", p, err)
	}
	if p, err := copiedRuntime(mod, "auto"); err != nil || p != "example.com/m/runtime" {
		t.Errorf("auto at a module's root: %q, %v", p, err)
	}
}
