package codegen

import (
	_ "embed"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/internal/gotmpl"
	"github.com/rnc-dev/rnc/internal/randmodel"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

var (
	randGraphs    = flag.Int("randgraphs", 48, "TestRandomGraphs: how many random models")
	randGraphSeed = flag.Uint64("randgraph-seed", 1, "TestRandomGraphs: the first seed")
)

// randDriver is the driver of TestRandomGraphs
// (testdata/randgraph_driver.go.txt, a text/template on randDriverFile).
var randDriver = gotmpl.Parse("randgraph_driver.go.txt", randDriverText)

//go:embed testdata/randgraph_driver.go.txt
var randDriverText string

// randDriverFile is what varies in the driver.
type randDriverFile struct {
	Imports string // the import lines of the generated packages, sorted
	Models  string // the rows of the table of models
}

// TestRandomGraphs is the random-graph differential test: it writes random
// valid models (internal/randmodel: every builtin, odd shapes and channel
// counts, every epilogue the fuser forms), compiles each for every target,
// and runs every target this CPU supports against the interpreter on the
// graph as written — on a random input, one with NaN pixels, an all-NaN
// one and one with ±Inf pixels — in one `go test` of a driver package that
// imports all of them. -randgraphs and
// -randgraph-seed choose the models; FuzzRandomGraphs runs it open-ended.
func TestRandomGraphs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := tempDir("rand-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RNC_KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	var names []string
	ops := map[string]int{}
	kinds := map[string]int{}
	for seed := *randGraphSeed; seed < *randGraphSeed+uint64(*randGraphs); seed++ {
		m := randmodel.New(seed)
		for k, n := range m.Ops {
			ops[k] += n
		}
		res, ok := randomPackage(t, dir, m, seed)
		if !ok {
			continue
		}
		for _, g := range res.Graphs {
			for _, op := range g.Ops {
				k := op.Kind.String()
				for _, st := range op.Attrs.Epi {
					k += "+" + st.Kind.String()
				}
				kinds[k]++
			}
		}
		names = append(names, m.Name)
	}
	out := runDriver(t, dir, names)
	t.Logf("%s", out)
	var opl, kl []string
	for k, n := range ops {
		opl = append(opl, fmt.Sprintf("%s %d", k, n))
	}
	for k, n := range kinds {
		kl = append(kl, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(opl)
	sort.Strings(kl)
	t.Logf("builtin calls: %s", strings.Join(opl, ", "))
	t.Logf("lowered ops (all targets): %s", strings.Join(kl, ", "))
}

// FuzzRandomGraphs is TestRandomGraphs for one random model per input:
// go test ./codegen -run '^$' -fuzz FuzzRandomGraphs.
func FuzzRandomGraphs(f *testing.F) {
	f.Add(uint64(1000))
	f.Fuzz(func(t *testing.T, seed uint64) {
		dir, err := tempDir("fuzzrand-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		m := randmodel.New(seed)
		if _, ok := randomPackage(t, dir, m, seed); ok {
			runDriver(t, dir, []string{m.Name})
		}
	})
}

// randomPackage compiles m into dir/NAME with its reference data in
// dir/NAME/ref: the source, random weights, the four input sets of
// TestRandomGraphs and the interpreter's outputs for each. A model rnc refuses
// or a pipeline that fails is an error of the test (the generator writes
// only valid models).
func randomPackage(t testing.TB, dir string, m randmodel.Model, seed uint64) (*Result, bool) {
	t.Helper()
	g, err := dsl.Load(m.Name+".rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(m.Source), nil }})
	if err != nil {
		t.Errorf("seed %d: the model does not load: %v\n%s", seed, err, m.Source)
		return nil, false
	}
	w := interp.RandomWeights(g, seed)
	in := g.Inputs()[0].Type
	x := interp.RandomInput(in.H(), in.W(), in.C(), m.Batch, seed)
	// Input sets: random; with NaN pixels; all NaN; with ±Inf pixels. (Not
	// huge finite values: a Winograd tile with one loses the precision of
	// its other outputs, which a later sigmoid can turn into any value;
	// the kernel tests check huge values family by family.)
	sets := map[string][]float32{"": x}
	xn := append([]float32(nil), x...)
	for i := int(seed % 7); i < len(xn); i += 97 + int(seed%13) {
		xn[i] = float32(math.NaN())
	}
	sets["nan_"] = xn
	xa := make([]float32, len(x))
	for i := range xa {
		xa[i] = float32(math.NaN())
	}
	sets["allnan_"] = xa
	xs := append([]float32(nil), x...)
	for i, k := int(seed%5), 0; i < len(xs); i, k = i+89+int(seed%11), k+1 {
		xs[i] = []float32{float32(math.Inf(1)), float32(math.Inf(-1))}[k%2]
	}
	sets["special_"] = xs
	want := map[string][]float32{}
	for name, in := range sets {
		y, err := interp.Eval(g, w, in, m.Batch)
		if err != nil {
			t.Errorf("seed %d: interpreter: %v\n%s", seed, err, m.Source)
			return nil, false
		}
		want[name] = y[0]
	}
	res, err := generateChecked(g, m.Name)
	if err != nil {
		t.Errorf("seed %d: %v\n%s", seed, err, m.Source)
		return nil, false
	}
	pkg := filepath.Join(dir, m.Name)
	ref := filepath.Join(pkg, "ref")
	if err := os.MkdirAll(ref, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, data := range res.Files {
		if strings.HasSuffix(f, "_test.go") {
			continue // the driver tests the package
		}
		if err := os.WriteFile(filepath.Join(pkg, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ref, "model.rn"), []byte(m.Source), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runtime.WriteSafetensorsFile(filepath.Join(ref, "weights.safetensors"), w); err != nil {
		t.Fatal(err)
	}
	for name := range sets {
		for f, v := range map[string][]float32{name + "input.f32": sets[name], name + "expected.f32": want[name]} {
			if err := npy.Write(filepath.Join(ref, f), v, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return res, true
}

// generateChecked is Generate for every target with ir.Verify after every
// pass, a panic in a pass or a generator reported as an error.
func generateChecked(g *ir.Graph, name string) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return Generate(g, Options{Package: name, Targets: allTargets, Pipeline: passes.Config{Check: true, Model: name}, Source: name + ".rn"})
}

// randDriverSource is the driver's source for the models in names, packages
// under dir (relative to codegen).
func randDriverSource(dir string, names []string) ([]byte, error) {
	var imports, models []string
	for i, n := range names {
		imports = append(imports, fmt.Sprintf("\t%s \"github.com/rnc-dev/rnc/codegen/%s/%s\"", n, filepath.ToSlash(dir), n))
		models = append(models, fmt.Sprintf("\t{%q, %s.Program(), %d},", n, n, 1+i%2))
	}
	sort.Strings(imports) // as gofmt sorts them
	return gotmpl.Execute(randDriver, randDriverFile{strings.Join(imports, "\n"), strings.Join(models, "\n")})
}

// TestRandDriverSource: the driver, for a few models, is a gofmt-clean Go
// file.
func TestRandDriverSource(t *testing.T) {
	src, err := randDriverSource(filepath.Join("testdata", "rand-1"), []string{"rand3", "rand10", "rand1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gotmpl.Check("randgraph_driver.go.txt", src); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(src), "\trand10 \"github.com/rnc-dev/rnc/codegen/testdata/rand-1/rand10\"\n\trand3 ") ||
		!strings.Contains(string(src), "{\n\t{\"rand3\", rand3.Program(), 1},\n\t{\"rand10\", rand10.Program(), 2},\n") {
		t.Errorf("imports or models not as expected:\n%s", src)
	}
}

// runDriver writes the driver package importing the models in names and
// runs it; it returns the driver's summary line.
func runDriver(t testing.TB, dir string, names []string) string {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("no model to run")
	}
	src, err := randDriverSource(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	drv := filepath.Join(dir, "driver")
	if err := os.MkdirAll(drv, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drv, "driver_test.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "test", "-count=1", "-v", "./"+filepath.ToSlash(drv))
	cmd.Env = append(os.Environ(), "RNC_TARGET=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("random graphs (sources in %s/NAME/ref/model.rn; RNC_KEEP=1 keeps them): %v\n%s", dir, err, out)
	}
	return string(regexp.MustCompile(`RANDOMGRAPHS .*`).Find(out))
}
