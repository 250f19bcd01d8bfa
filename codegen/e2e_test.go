package codegen

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// TestDifferential compiles random small ResNets (v1 or v2 blocks, random
// widths, strides, depths, input sizes and batch) and compares every target
// with the interpreter on random weights.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := tempDir("diff-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var pkgs []string
	for seed := uint64(1); len(pkgs) < 6 && seed < 100; seed++ {
		if pkg := differential(t, dir, seed); pkg != "" {
			pkgs = append(pkgs, pkg)
		}
	}
	goTest(t, pkgs, "-run", "TestReference|TestDeterministic")
}

// FuzzDifferential is TestDifferential for one random model per input:
// go test ./codegen -run '^$' -fuzz FuzzDifferential.
func FuzzDifferential(f *testing.F) {
	f.Add(uint64(7))
	f.Fuzz(func(t *testing.T, seed uint64) {
		dir, err := tempDir("fuzz-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if pkg := differential(t, dir, seed); pkg != "" {
			goTest(t, []string{pkg}, "-run", "TestReference")
		}
	})
}

// differential writes the package of random model seed with its reference
// outputs from the interpreter; it returns "" when the seed's model is not
// a valid network (e.g. strides shrink the input to nothing).
func differential(t testing.TB, dir string, seed uint64) string {
	src, batch := randomModel(seed)
	lib, err := os.ReadFile(filepath.Join("..", "models", "lib", "resnet.rn"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"m.rn": []byte(src), "lib/resnet.rn": lib}
	g, err := dsl.Load("m.rn", dsl.Options{ReadFile: func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}})
	if err != nil {
		return "" // an invalid random network
	}
	w := interp.RandomWeights(g, seed)
	in := g.Inputs()[0].Type
	x := interp.RandomInput(in.H(), in.W(), in.C(), batch, seed)
	y, err := interp.Eval(g, w, x, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d (batch %d):\n%s", seed, batch, src)
	return writePackage(t, dir, fmt.Sprintf("m%d", seed), g, w, x, y[0])
}

var allTargets = passes.AsmTargets()

func loadModel(t testing.TB, name string, set map[string]string) *ir.Graph {
	t.Helper()
	g, err := dsl.Load(filepath.Join("..", "models", name+".rn"), dsl.Options{Set: set})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	v, _, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// e2eCase is a model compiled into a package and compared with reference
// outputs in its test.
type e2eCase struct {
	name     string
	g        *ir.Graph
	w        *runtime.Weights
	x, want  []float32
	reldir   string
	expected string
}

// writePackage generates g into dir/name with its reference data in
// dir/name/ref.
func writePackage(t testing.TB, dir, name string, g *ir.Graph, w *runtime.Weights, x, want []float32) string {
	t.Helper()
	res, err := Generate(g, Options{Package: name, Targets: allTargets, Pipeline: passes.Config{Check: true, Model: name}, Source: name + ".rn"})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	pkg := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(pkg, "ref"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, data := range res.Files {
		if err := os.WriteFile(filepath.Join(pkg, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := runtime.WriteSafetensorsFile(filepath.Join(pkg, "ref", "weights.safetensors"), w); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string][]float32{"input.f32": x, "expected.f32": want} {
		if err := npy.Write(filepath.Join(pkg, "ref", f), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	return pkg
}

// goTest runs `go test -vet=all -v` (every vet check, asmdecl included) on
// generated packages, with their reference data (TestReference), every
// compiled target this CPU runs required to run and to pass; the others
// are built and vetted. The generated tests see this process's
// environment, GODEBUG (CPU feature masks) included.
func goTest(t *testing.T, pkgs []string, extra ...string) {
	t.Helper()
	args := []string{"test", "-vet=all", "-v", "-ldflags=-w"}
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	args = append(args, extra...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "RNC_REFERENCE=ref", "RNC_TARGET=", "RNC_ALL_TARGETS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	run, not := cpuTargets()
	if len(not) > 0 {
		t.Logf("this machine cannot run the %v kernels (runtime.Supported): not run", not)
	}
	checkTargets(t, string(out), pkgs, run, not)
}

// cpuTargets splits the targets every generated package has into those
// this CPU runs and those it cannot (runtime.Supported, which honours
// GODEBUG=cpu.avx512f=off and the like).
func cpuTargets() (run, not []string) {
	for _, tg := range append(allTargets, passes.Generic) {
		target := string(tg)
		if runtime.Supported(target) {
			run = append(run, target)
		} else {
			not = append(not, target)
		}
	}
	return run, not
}

// checkTargets checks in the output of `go test -v` on pkgs that each
// package's TestReference compared every target of run with its reference
// outputs and none of not.
func checkTargets(t *testing.T, out string, pkgs []string, run, not []string) {
	t.Helper()
	// go test prints each package's output, then its "ok" line.
	blocks := map[string]string{}
	start := 0
	for _, m := range regexp.MustCompile(`(?m)^ok  \t(\S+)\t.*$`).FindAllStringSubmatchIndex(out, -1) {
		blocks[out[m[2]:m[3]]] = out[start:m[0]]
		start = m[1]
	}
	for _, p := range pkgs {
		var block string
		found := false
		for path, b := range blocks {
			if strings.HasSuffix(path, "/"+filepath.ToSlash(p)) {
				block, found = b, true
			}
		}
		if !found {
			t.Errorf("%s: no \"ok\" line in the go test output", p)
			continue
		}
		for _, target := range run {
			if !strings.Contains(block, ": "+target+": max difference ") {
				t.Errorf("%s: TestReference did not check target %s, which this CPU runs", p, target)
			}
		}
		for _, target := range not {
			if strings.Contains(block, ": "+target+": max difference ") {
				t.Errorf("%s: TestReference ran target %s, which this CPU cannot run", p, target)
			}
		}
	}
}

// TestEndToEnd compiles models into packages, builds them, and checks
// every target path this CPU runs (avx512, avx2, generic) against golden
// outputs or the interpreter: max abs diff ≤ 1e-5 and the same top-1;
// outputs bit-identical across runs and thread counts; no allocation in
// Predict; errors for wrong sizes.
//
// small: the golden models (tinyv2's weights read from a Keras .h5 file),
// tinyv2 without its top (a feature-map output, as with Keras's _notop
// weights) and the dilated convs of models/dilated.rn on random weights. keras: ResNet50V2 and ResNet50 at 64×64 and ResNet50 at 32×32
// on random weights. The 101- and 152-layer ResNets at 32×32 have exactly
// the kernels of ResNet50 (v1) and of the 2-block ResNet200V2 that
// TestVariants runs (v2), which is checked; they differ only in how often
// a block repeats, so they are compiled, not run (preparing their 45M–60M
// weights is what running them would cost).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	t.Run("small", func(t *testing.T) {
		dir, err := tempDir("e2e-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		var pkgs []string
		for _, m := range []string{"tinyv2", "tinyv1", "stemv2"} {
			pkgs = append(pkgs, writeGolden(t, dir, m))
		}
		pkgs = append(pkgs, writeRandom(t, dir, "tinyv2_notop", "tinyv2", map[string]string{"include_top": "false"}))
		pkgs = append(pkgs, writeRandom(t, dir, "dilated", "dilated", nil))
		goTest(t, pkgs, "-run", "TestReference|TestDeterministic|TestPredictErrors|TestConcurrentPredict|TestPreprocess")
	})
	t.Run("keras", func(t *testing.T) {
		dir, err := tempDir("e2e-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		at := func(hw int, more ...string) map[string]string {
			set := map[string]string{"input_shape": fmt.Sprintf("[%d,%d,3]", hw, hw)}
			for i := 0; i < len(more); i += 2 {
				set[more[i]] = more[i+1]
			}
			return set
		}
		pkgs := []string{
			writeRandom(t, dir, "resnet50v2", "resnet50v2", at(64)),
			writeRandom(t, dir, "resnet50", "resnet50", at(64)),
			writeRandom(t, dir, "resnet50_32", "resnet50", at(32)),
		}
		kernels := func(m string, set map[string]string) []byte {
			t.Helper()
			res, err := Generate(loadModel(t, m, set), Options{Package: "p", Targets: allTargets, Pipeline: passes.Config{Check: true, Model: m}})
			if err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			return res.Files["kernels_amd64.s"]
		}
		v1, err := os.ReadFile(filepath.Join(dir, "resnet50_32", "kernels_amd64.s"))
		if err != nil {
			t.Fatal(err)
		}
		v2 := kernels("resnet200v2", variantModels(t)["resnet200v2"])
		for _, m := range []string{"resnet101", "resnet152", "resnet101v2", "resnet152v2"} {
			want, ran := v1, "resnet50 at 32×32"
			if strings.HasSuffix(m, "v2") {
				want, ran = v2, "resnet200v2 (TestVariants)"
			}
			if !bytes.Equal(kernels(m, at(32)), want) {
				t.Errorf("%s at 32×32 has kernels that %s has not: run it here", m, ran)
			}
		}
		goTest(t, pkgs, "-run", "TestReference|TestDeterministic|TestPredictErrors|TestConcurrentPredict")
	})
}

// writeRandom writes package name of model m (with the overrides set) with
// random weights and its outputs from the interpreter (batch 2).
func writeRandom(t *testing.T, dir, name, m string, set map[string]string) string {
	t.Helper()
	g := loadModel(t, m, set)
	w := interp.RandomWeights(g, 1)
	in := g.Inputs()[0].Type
	x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 2)
	y, err := interp.Eval(g, w, x, 2)
	if err != nil {
		t.Fatal(err)
	}
	return writePackage(t, dir, name, g, w, x, y[0])
}

// writeGolden writes the package of golden model m (testdata/golden) with
// its golden weights, input and outputs; tinyv2 reads its weights from the
// Keras .h5 file of the same weights (written by h5py, runtime/testdata/h5)
// in place of safetensors.
func writeGolden(t *testing.T, dir, m string) string {
	t.Helper()
	g := loadModel(t, m, nil)
	gold := filepath.Join("..", "testdata", "golden")
	w, err := runtime.LoadWeightsFile(filepath.Join(gold, m+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x := readF32(t, filepath.Join(gold, m+"_input_b2_seed2.f32"))
	want := readF32(t, filepath.Join(gold, m+"_expected_b2.f32"))
	pkg := writePackage(t, dir, m, g, w, x, want)
	if m == "tinyv2" {
		h5, err := os.ReadFile(filepath.Join("..", "runtime", "testdata", "h5", "keras2_tinyv2.h5"))
		if err != nil {
			t.Fatal(err)
		}
		ref := filepath.Join(pkg, "ref")
		if err := os.WriteFile(filepath.Join(ref, "weights.h5"), h5, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(ref, "weights.safetensors")); err != nil {
			t.Fatal(err)
		}
	}
	return pkg
}

// TestDeterministicOutput: generating a package twice gives the same bytes;
// every file starts with the DO NOT EDIT header.
func TestDeterministicOutput(t *testing.T) {
	g := loadModel(t, "stemv2", nil)
	a, err := Generate(g, Options{Package: "p", Targets: allTargets})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(loadModel(t, "stemv2", nil), Options{Package: "p", Targets: allTargets})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Files) != len(b.Files) {
		t.Fatalf("%d and %d files", len(a.Files), len(b.Files))
	}
	for name, data := range a.Files {
		if !bytes.Equal(data, b.Files[name]) {
			t.Errorf("%s differs between two runs", name)
		}
		if !bytes.HasPrefix(data, []byte(Header+"\n")) {
			t.Errorf("%s does not start with %q", name, Header)
		}
	}
}

// TestPackageName: a name that is not a Go identifier (as a default taken
// from a directory such as gen/2tiny would be) is a clear error, not Go
// code that fails to parse.
func TestPackageName(t *testing.T) {
	g := loadModel(t, "stemv2", nil)
	for _, name := range []string{"", "2tiny", "my-pkg", "a.b", "func", "_", "main"} {
		_, err := Generate(g, Options{Package: name, Targets: allTargets})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("invalid package name %q", name)) {
			t.Errorf("package %q: error %v", name, err)
		}
	}
	if _, err := Generate(g, Options{Package: "tiny2", Targets: allTargets}); err != nil {
		t.Error(err)
	}
}

// TestInstructions checks the emitted assembly: every conv kernel has the
// FMA inner loop, no kernel calls anything, and AVX2 kernels use no
// AVX-512 register.
func TestInstructions(t *testing.T) {
	res, err := Generate(loadModel(t, "stemv2", nil), Options{Package: "p", Targets: allTargets})
	if err != nil {
		t.Fatal(err)
	}
	asm := string(res.Files["kernels_amd64.s"])
	funcs := regexp.MustCompile(`(?m)^TEXT ·(\w+)\(SB\)`).FindAllStringSubmatchIndex(asm, -1)
	if len(funcs) == 0 {
		t.Fatal("no kernels")
	}
	for i, f := range funcs {
		end := len(asm)
		if i+1 < len(funcs) {
			end = funcs[i+1][0]
		}
		name, body := asm[f[2]:f[3]], asm[f[0]:end]
		if strings.HasPrefix(name, "conv_") && !strings.Contains(body, "VFMADD231PS") {
			t.Errorf("%s has no VFMADD231PS", name)
		}
		if strings.Contains(body, "CALL") {
			t.Errorf("%s calls", name)
		}
		ymm := regexp.MustCompile(`\bY\d+\b`).MatchString(body) && !regexp.MustCompile(`\bZ\d+\b`).MatchString(body)
		if ymm && regexp.MustCompile(`\b(Y(1[6-9]|2\d|3[01])|K[1-7])\b`).MatchString(body) {
			t.Errorf("%s is an AVX2 kernel but uses an AVX-512 register", name)
		}
	}
	if n := strings.Count(asm, "\nTEXT "); n != res.Kernels {
		t.Errorf("%d TEXT blocks for %d kernels (identical kernels must be emitted once)", n, res.Kernels)
	}
}

// randomModel writes a random small ResNet in the model language: v1 or
// v2 blocks from models/lib/resnet.rn, random widths, strides, depths and
// input size. The same seed gives the same model.
func randomModel(seed uint64) (src string, batch int) {
	r := seed*0x9e3779b97f4a7c15 + 12345
	next := func(n int) int {
		r ^= r >> 12
		r ^= r << 25
		r ^= r >> 27
		return int((r * 0x2545f4914f6cdd1d >> 33) % uint64(n))
	}
	hw, c := 12+next(30), 1+next(4)
	v2 := next(2) == 0
	var b strings.Builder
	fmt.Fprintf(&b, "import \"lib/resnet.rn\"\n\nmodel m(input_shape = [%d, %d, %d], classes = %d) {\n", hw, hw+next(5), c, 2+next(12))
	b.WriteString("    img = Input(shape = input_shape)\n    x = img\n")
	if next(2) == 0 {
		fmt.Fprintf(&b, "    x = stem(x, filters = %d, use_bias = %v, preact = %v)\n", 4+next(20), next(2) == 0, v2)
	} else {
		fmt.Fprintf(&b, "    x = Conv2D(x, %d, %d, padding = \"same\", name = \"conv1_conv\")\n", 4+next(20), 1+2*next(2))
	}
	stacks := 1 + next(3)
	for i := 0; i < stacks; i++ {
		f, blocks, stride := 2+next(12), 1+next(3), 1+next(2)
		if v2 {
			blocks++ // stack2 needs two blocks for distinct names
			fmt.Fprintf(&b, "    x = stack2(x, %d, %d, stride1 = %d, name = \"conv%d\")\n", f, blocks, stride, i+2)
		} else {
			fmt.Fprintf(&b, "    x = stack1(x, %d, %d, stride1 = %d, name = \"conv%d\")\n", f, blocks, stride, i+2)
		}
	}
	fmt.Fprintf(&b, "    x = top(x, %v, true, none, classes)\n    return Model(img, x)\n}\n", v2)
	return b.String(), 1 + next(3)
}

// tempDir makes a directory for generated packages under testdata, inside
// the module so that they build against this tree (go ./... skips it).
func tempDir(pattern string) (string, error) {
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp("testdata", pattern)
}

// TestAddressable: a model whose tensors the kernels cannot address (rnc
// compile --set input_shape=[8192,8192,3] used to panic with "immediate
// 4294967296 out of range"; the model language now refuses that one as
// over its shape budget) is refused with an error naming the layer; the
// largest inputs below the limit compile.
func TestAddressable(t *testing.T) {
	g := loadModel(t, "resnet50v2", map[string]string{"input_shape": "[6000,6000,3]"})
	_, err := Generate(g, Options{Package: "p", Targets: allTargets})
	want := "layer input_1: its output 6000×6000×3 takes 2.1 GiB per image in rnc's blocked layouts; the kernels address at most 2 GiB per tensor and image"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("6000×6000: error %v, want %q", err, want)
	}
	g = loadModel(t, "resnet50v2", map[string]string{"input_shape": "[4000,4000,3]"})
	if _, err := Generate(g, Options{Package: "p", Targets: allTargets}); err != nil {
		t.Errorf("4000×4000: %v", err)
	}
}
