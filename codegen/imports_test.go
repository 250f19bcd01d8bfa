package codegen

import (
	"go/build"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const modulePath = "github.com/rnc-dev/rnc"

// moduleDeps returns the packages of this module that pkg (a path inside
// the module) imports, directly or transitively, through its non-test Go
// files for linux/amd64 (what `go list -deps` lists, restricted to the
// module).
func moduleDeps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH = "linux", "amd64"
	deps := map[string]bool{}
	var walk func(path string)
	walk = func(path string) {
		rel := strings.TrimPrefix(path, modulePath+"/")
		p, err := ctx.ImportDir(filepath.Join("..", filepath.FromSlash(rel)), 0)
		if err != nil {
			t.Fatalf("importing %s: %v", path, err)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, modulePath+"/") && !deps[imp] {
				deps[imp] = true
				walk(imp)
			}
		}
	}
	walk(modulePath + "/" + pkg)
	return deps
}

// TestGeneratorsIndependentOfAVX512 checks that the AVX2, Winograd and
// VNNI generators do not import the AVX-512 direct-conv generator, directly or
// transitively: what they share with it (the epilogue steps, the spec
// helpers, the pure-Go reference, the printer) lives in codegen/internal.
func TestGeneratorsIndependentOfAVX512(t *testing.T) {
	const avx512 = modulePath + "/codegen/avx512"
	// The walk sees avx512 where it is imported, and the shared packages.
	if !moduleDeps(t, "codegen")[avx512] {
		t.Fatal("codegen does not seem to import codegen/avx512: the import walk is broken")
	}
	for _, pkg := range []string{"codegen/avx2", "codegen/winograd", "codegen/vnni"} {
		deps := moduleDeps(t, pkg)
		if !deps[modulePath+"/codegen/internal/conv"] {
			t.Errorf("%s: codegen/internal/conv not among its imports: the import walk is broken", pkg)
		}
		if deps[avx512] {
			var all []string
			for d := range deps {
				all = append(all, strings.TrimPrefix(d, modulePath+"/"))
			}
			sort.Strings(all)
			t.Errorf("%s imports codegen/avx512 (module imports: %s)", pkg, strings.Join(all, ", "))
		}
	}
}
