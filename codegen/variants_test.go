package codegen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
)

// variantModels are the models of the paper variants (docs/variants.md):
// every file in models/variants and the paper's named networks in models/,
// each with the overrides that make it small enough to run here (2 units
// per stage, 16×16 inputs; ResNet-200 with 2 blocks per stage at 32×32).
func variantModels(t testing.TB) map[string]map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "models", "variants", "*.rn"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no models in models/variants: %v", err)
	}
	small := func() map[string]string { return map[string]string{"blocks": "2", "input_shape": "[16,16,3]"} }
	m := map[string]map[string]string{}
	for _, f := range files {
		m["variants/"+strings.TrimSuffix(filepath.Base(f), ".rn")] = small()
	}
	for _, n := range []string{"resnet110", "resnet110v2", "resnet164", "resnet164v2", "resnet1001", "resnet1001v2"} {
		m[n] = small()
	}
	m["resnet200v2"] = map[string]string{"blocks": "[2,2,2,2]", "input_shape": "[32,32,3]"}
	return m
}

// TestVariants compiles every variant model (at a small size) into a
// package and checks every target path against the interpreter on random
// weights, in one `go test` over all the packages: max abs difference of
// the probabilities ≤ 1e-5, the same top-1, and bit-identical outputs
// across runs and thread counts.
func TestVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := tempDir("variants-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	models := variantModels(t)
	var names []string
	for name := range models {
		names = append(names, name)
	}
	sort.Strings(names)
	var pkgs []string
	for _, name := range names {
		g := loadModel(t, name, models[name])
		w := interp.RandomWeights(g, 3)
		in := g.Inputs()[0].Type
		x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 4)
		y, err := interp.Eval(g, w, x, 2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pkg := strings.TrimPrefix(name, "variants/")
		if err := compiles(g, pkg); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		pkgs = append(pkgs, writePackage(t, dir, pkg, g, w, x, y[0]))
	}
	goTest(t, pkgs, "-run", "TestReference|TestDeterministic")
}

// compiles runs the whole pipeline of every target on g, reporting a
// panic in a pass as an error (so that one model's failure does not hide
// the others').
func compiles(g *ir.Graph, name string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	for _, t := range append(allTargets, passes.Generic) {
		if err := passes.Run(g.Clone(), passes.Config{Target: t, Check: true, Model: name}); err != nil {
			return err
		}
	}
	return nil
}

// TestResNet1001 compiles the full ResNet-1001 (pre-activation, 32×32,
// over 3000 layers) for every target and builds the package (it is not run
// at this size here). It logs the time compiling took;
// BenchmarkCompileResNet1001 measures it.
func TestResNet1001(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a generated package")
	}
	t0 := time.Now()
	g, res := compileResNet1001(t)
	t.Logf("ResNet-1001: %d layers, %d plan steps (avx512), %d kernels, compiled in %v", len(g.Ops), len(res.Graphs[passes.AVX512].Ops)-1, res.Kernels, time.Since(t0).Round(time.Millisecond))
	dir, err := tempDir("r1001-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pkg := filepath.Join(dir, "resnet1001v2")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, data := range res.Files {
		if err := os.WriteFile(filepath.Join(pkg, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t0 = time.Now()
	if out, err := exec.Command("go", "build", "./"+pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %v", time.Since(t0).Round(time.Millisecond))
}

// BenchmarkCompileResNet1001 times loading and compiling ResNet-1001 for
// every target: go test ./codegen -run '^$' -bench CompileResNet1001.
func BenchmarkCompileResNet1001(b *testing.B) {
	for i := 0; i < b.N; i++ {
		compileResNet1001(b)
	}
}

func compileResNet1001(t testing.TB) (*ir.Graph, *Result) {
	t.Helper()
	g, err := dsl.Load(filepath.Join("..", "models", "resnet1001v2.rn"), dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Ops) < 3000 {
		t.Fatalf("ResNet-1001 has %d layers", len(g.Ops))
	}
	res, err := Generate(g, Options{Package: "resnet1001v2", Targets: allTargets, Source: "resnet1001v2.rn"})
	if err != nil {
		t.Fatal(err)
	}
	return g, res
}
