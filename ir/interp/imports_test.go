package interp_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const runtimePath = "github.com/rnc-dev/rnc/runtime"

// oracleAllowed is all the interpreter may use of the runtime: the
// container of named tensors (data, read by name and checked against the
// model's list) and its constructor. No kernel, no weight program, no
// Winograd transform: the oracle computes with its own code.
var oracleAllowed = map[string]bool{
	"Weights": true, "NewWeights": true, "TensorSpec": true, // types and constructor
	"Tensors": true, "Metadata": true, "Check": true, "Data": true, "Floats": true, "Add": true, // Weights' fields and methods
	"Name": true, "Shape": true, "DType": true, // TensorSpec's and Tensor's fields
}

// abiAllowed is what the interpreter may use of runtime/abi: the int8
// arithmetic's definitions (runtime/abi/int8.go), one line each, pinned
// by their own tests (TestCvt, TestAccReal, ...). They are the
// specification the kernels implement, not kernel code: the integer
// reference (the int8 ops) computes with them as the contract says.
var abiAllowed = map[string]bool{"AccReal": true, "Dequant": true, "QuantizeU8": true, "MaxAccTerms": true}

// One file set and importer for both tests: the importer type-checks the
// imported packages from source once.
var (
	fset        = token.NewFileSet()
	srcImporter = importer.ForCompiler(fset, "source", nil)
)

// runtimeUses type-checks files (name → source) as package interp and
// returns what they use of the runtime that oracleAllowed does not allow:
// an import of a package under runtime/ but the root, or an identifier of
// the runtime (a function, type, method or field) not in the list.
func runtimeUses(t *testing.T, files map[string]string) []string {
	t.Helper()
	var parsed []*ast.File
	var bad []string
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, files[name], parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, runtimePath+"/") && p != runtimePath+"/abi" {
				bad = append(bad, fmt.Sprintf("%s imports %s", fset.Position(imp.Pos()), p))
			}
		}
		parsed = append(parsed, f)
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: srcImporter}
	if _, err := conf.Check("github.com/rnc-dev/rnc/ir/interp", fset, parsed, info); err != nil {
		t.Fatal(err)
	}
	for id, obj := range info.Uses {
		if obj.Pkg() == nil || !strings.HasPrefix(obj.Pkg().Path(), runtimePath) {
			continue
		}
		if _, isPkg := obj.(*types.PkgName); isPkg {
			continue
		}
		if obj.Pkg().Path() == runtimePath+"/abi" && abiAllowed[obj.Name()] {
			continue
		}
		if obj.Pkg().Path() != runtimePath || !oracleAllowed[obj.Name()] {
			bad = append(bad, fmt.Sprintf("%s uses %s.%s", fset.Position(id.Pos()), obj.Pkg().Name(), obj.Name()))
		}
	}
	sort.Strings(bad)
	return bad
}

// TestOracleIndependent: ir/interp's own files (not its tests) use of
// github.com/rnc-dev/rnc/runtime only the weight container — not
// RunWeightProgram, WinogradConv, PackWinograd, Pack, CheckVariance or any
// kernel — so the oracle shares no computation with what it checks.
func TestOracleIndependent(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	if len(files) < 4 {
		t.Fatalf("found only %v", paths)
	}
	for _, u := range runtimeUses(t, files) {
		t.Error(u)
	}
}

// TestOracleIndependentCatches: the check finds a banned runtime function
// called through an alias, a banned method and a sub-package import.
func TestOracleIndependentCatches(t *testing.T) {
	src := `package interp

import (
	rt "github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

var _ = npy.Write

func f(w *rt.Weights) {
	_ = rt.WinogradConv(nil, 0, 0, 0, nil, 0, [4]int{})
	_, _ = rt.RunWeightProgram(nil, w, nil)
	_ = w.Close()
}
`
	got := strings.Join(runtimeUses(t, map[string]string{"bad.go": src}), "\n")
	for _, want := range []string{"imports " + runtimePath + "/npy", "uses runtime.WinogradConv", "uses runtime.RunWeightProgram", "uses runtime.Close", "uses npy.Write"} {
		if !strings.Contains(got, want) {
			t.Errorf("the check misses %q; it reports:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Weights") {
		t.Errorf("the check reports the allowed container:\n%s", got)
	}
}
