package main

import (
	"bufio"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/internal/randmodel"
)

var updateFingerprints = flag.Bool("update-fingerprints", false, "rewrite testdata/generated.sha256 from the packages rnc compile writes now")

// fingerprintFile holds the SHA-256 of every file rnc compile writes
// (--runtime import) for every model in models/, with its default
// parameters, and for the random models of seeds 1..fingerprintRandom
// (which reach epilogues the models do not: sigmoid, multiply, gates,
// odd channel counts): a change to the backend that claims to leave float32 code
// alone must leave this file alone.
const fingerprintFile = "testdata/generated.sha256"

const fingerprintRandom = 40

// TestGeneratedFingerprints compiles every model in models/ and compares
// each generated file with its recorded SHA-256. A refactoring of the
// backend keeps these byte-identical; a change that means to alter the
// generated code regenerates the file with
// go test ./cmd/rnc -run TestGeneratedFingerprints -update-fingerprints
// and says why in its commit.
func TestGeneratedFingerprints(t *testing.T) {
	models, err := filepath.Glob(path("models/*.rn"))
	if err != nil {
		t.Fatal(err)
	}
	variants, _ := filepath.Glob(path("models/variants/*.rn"))
	models = append(models, variants...)
	if len(models) < 20 {
		t.Fatalf("found %d models", len(models))
	}
	randDir := t.TempDir()
	for seed := uint64(1); seed <= fingerprintRandom; seed++ {
		m := filepath.Join(randDir, fmt.Sprintf("random%d.rn", seed))
		if err := os.WriteFile(m, []byte(randmodel.New(seed).Source), 0o644); err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	var lines []string
	for _, m := range models {
		rel, _ := filepath.Rel(root, m)
		if filepath.Dir(m) == randDir {
			rel = "randmodel/" + filepath.Base(m)
		}
		dir := t.TempDir()
		if out, err := rnc(t, "compile", m, "-o", dir, "--pkg", "p", "--runtime", "import"); err != nil {
			t.Fatalf("compile %s: %v\n%s", rel, err, out)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) == 0 {
			t.Fatalf("compile %s wrote no files", rel)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%x  %s/%s", sha256.Sum256(b), filepath.ToSlash(rel), filepath.Base(f)))
		}
	}
	sort.Strings(lines)
	want := path(fingerprintFile)
	if *updateFingerprints {
		if err := os.WriteFile(want, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(want)
	if err != nil {
		t.Fatalf("%v: create it with -update-fingerprints", err)
	}
	defer f.Close()
	recorded := map[string]string{} // model/file -> hash
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: malformed line %q", fingerprintFile, sc.Text())
		}
		recorded[name] = hash
	}
	for _, l := range lines {
		hash, name, _ := strings.Cut(l, "  ")
		switch r, ok := recorded[name]; {
		case !ok:
			t.Errorf("%s: new file, not in %s", name, fingerprintFile)
		case r != hash:
			t.Errorf("%s: the generated file changed (sha256 %s, recorded %s)", name, hash[:12], r[:12])
		}
		delete(recorded, name)
	}
	for name := range recorded {
		t.Errorf("%s: recorded in %s, no longer written", name, fingerprintFile)
	}
}
