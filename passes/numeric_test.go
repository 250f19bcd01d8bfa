package passes

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
)

// modelSizes are the overrides that make each model in models/ small
// enough for the interpreter (every stride stays legal); every model must
// have an entry (TestEveryModelSized), so a new model joins the numeric
// proof below.
var modelSizes = map[string]map[string]string{
	"resnet50v2": {"input_shape": "[64,64,3]"}, "resnet101v2": {"input_shape": "[32,32,3]"}, "resnet152v2": {"input_shape": "[32,32,3]"},
	"resnet50": {"input_shape": "[64,64,3]"}, "resnet101": {"input_shape": "[32,32,3]"}, "resnet152": {"input_shape": "[32,32,3]"},
	"tinyv2": nil, "tinyv1": nil, "stemv2": nil, "dilated": nil, "example": nil,
	// the paper's networks: 2 units per stage
	"resnet110": cifarSmall, "resnet110v2": cifarSmall, "resnet164": cifarSmall, "resnet164v2": cifarSmall,
	"resnet1001": cifarSmall, "resnet1001v2": cifarSmall,
	"resnet200v2": {"blocks": "[2,2,2,2]", "input_shape": "[32,32,3]"},
}

var cifarSmall = map[string]string{"blocks": "2", "input_shape": "[16,16,3]"}

// deepModels run their numeric proof for one target only.
var deepModels = map[string]bool{"resnet101v2": true, "resnet101": true, "resnet152v2": true, "resnet152": true}

func loadFull(m string) (*ir.Graph, error) {
	return dsl.Load(filepath.Join("..", "models", m+".rn"), dsl.Options{})
}

func sizeOf(m string) map[string]string {
	if strings.HasPrefix(m, "variants/") {
		return cifarSmall
	}
	return modelSizes[m]
}

func loadSmall(t testing.TB, m string) *ir.Graph {
	t.Helper()
	g, err := dsl.Load(filepath.Join("..", "models", m+".rn"), dsl.Options{Set: sizeOf(m)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		if math.IsNaN(float64(a[i])) != math.IsNaN(float64(b[i])) {
			return math.Inf(1)
		}
	}
	return d
}

// heavyParams is the weight count above which a model's numeric proof
// compares the interpreter's outputs before and after the whole pipeline
// rather than after every pass: each evaluation prepares all the weights
// again, which is what the proof costs (on ResNet152 at 32×32, eleven
// evaluations took half a minute and 1.2 GB). Those models (the ImageNet
// ResNets, 8M–60M weights) are built of the blocks of the small models
// that get the per-pass proof (stack1/stack2 in tinyv1, tinyv2, stemv2,
// ResNet-164 and the variants); a mismatch re-runs the per-pass proof to
// name the pass. They run one at a time, so that two of them never hold
// their weights at once.
const heavyParams = 5_000_000

var heavy = make(chan struct{}, 1) // held by the heavy model that runs

// TestPipelineNumerics is the numeric proof of every pass on every model:
// the interpreter runs the graph before and after each pass (before and
// after the pipeline for a model of more than heavyParams weights), on
// random weights and inputs (batch 2), and the outputs agree to 1e-5;
// Verify holds after every pass.
func TestPipelineNumerics(t *testing.T) {
	// A heavy model's weights, as loaded and as prepared, are 0.5–0.7 GB
	// live: a soft limit keeps the garbage beside them from doubling that.
	limit := debug.SetMemoryLimit(1 << 30)
	t.Cleanup(func() { debug.SetMemoryLimit(limit) }) // after the parallel subtests
	for _, target := range []Target{AVX512, AVX2} {
		for _, m := range sortedModels() {
			if testing.Short() && m != "tinyv2" {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", target, m), func(t *testing.T) {
				t.Parallel()
				if target == AVX2 && deepModels[m] {
					t.Skip("the deep models run once, for avx512")
				}
				g := loadSmall(t, m)
				params := 0
				for _, op := range g.Ops {
					a, b := ir.ParamCounts(op)
					params += a + b
				}
				perPass := params <= heavyParams
				if !perPass {
					heavy <- struct{}{}
					defer func() { <-heavy }()
				}
				w := interp.RandomWeights(g, 1)
				in := g.Inputs()[0].Type
				x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 2)
				run := func(g *ir.Graph) []float32 {
					y, err := interp.Eval(g, w, x, 2)
					if err != nil {
						t.Fatal(err)
					}
					return y[0]
				}
				want := run(g)
				if err := pipelineNumerics(g.Clone(), target, m, run, want, perPass); err != nil {
					if !perPass { // name the pass
						if err2 := pipelineNumerics(g, target, m, run, want, true); err2 != nil {
							err = err2
						}
					}
					t.Fatal(err)
				}
				if !perPass {
					t.Logf("%d weights: outputs compared after the pipeline, not after every pass", params)
				}
			})
		}
	}
}

// pipelineNumerics runs the pipeline of target on g, verifying the graph
// after every pass, and compares run's outputs with want after every pass
// (perPass) or after the last.
func pipelineNumerics(g *ir.Graph, target Target, m string, run func(*ir.Graph) []float32, want []float32, perPass bool) error {
	prev := want
	cfg := Config{Target: target, Model: m, After: func(i int, pass string, g *ir.Graph) error {
		if err := ir.Verify(g); err != nil {
			return fmt.Errorf("after %s: %w", pass, err)
		}
		if !perPass {
			return nil
		}
		y := run(g)
		if d := maxAbsDiff(prev, y); !(d <= 1e-5) {
			return fmt.Errorf("after %s: outputs differ by %g", pass, d)
		}
		prev = y
		return nil
	}}
	if err := Run(g, cfg); err != nil {
		return err
	}
	if !perPass {
		if d := maxAbsDiff(want, run(g)); !(d <= 1e-5) {
			return fmt.Errorf("after the pipeline: outputs differ by %g", d)
		}
	}
	return nil
}

// sortedModels lists every model in models/ and models/variants/ (as
// paths under models/ without .rn), the golden and ResNet50 ones first.
func sortedModels() []string {
	ms := []string{"tinyv2", "tinyv1", "stemv2", "resnet50v2", "resnet50", "resnet101v2", "resnet101", "resnet152v2", "resnet152"}
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m] = true
	}
	for _, pat := range []string{"*.rn", "variants/*.rn"} {
		files, _ := filepath.Glob(filepath.Join("..", "models", pat))
		sort.Strings(files)
		for _, f := range files {
			m := filepath.ToSlash(strings.TrimSuffix(strings.TrimPrefix(f, filepath.Join("..", "models")+string(filepath.Separator)), ".rn"))
			if !seen[m] {
				seen[m] = true
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// TestEveryModelSized: every model in models/ has its small size, so
// TestPipelineNumerics covers it, and the list holds the variants.
func TestEveryModelSized(t *testing.T) {
	ms := sortedModels()
	variants := 0
	for _, m := range ms {
		if strings.HasPrefix(m, "variants/") {
			variants++
			continue
		}
		if _, ok := modelSizes[m]; !ok {
			t.Errorf("models/%s.rn has no entry in modelSizes", m)
		}
	}
	if len(ms) < 25 || variants < 12 {
		t.Errorf("%d models, %d variants: %v", len(ms), variants, ms)
	}
}
