package passes

import (
	"fmt"
	"math"
	"path/filepath"
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
	"tinyv2": nil, "tinyv1": nil, "stemv2": nil,
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

// TestPipelineNumerics is the numeric proof of every pass on every model:
// the interpreter runs the graph before and after each pass, on random
// weights and inputs (batch 2), and the outputs agree to 1e-5; Verify
// holds after every pass.
func TestPipelineNumerics(t *testing.T) {
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
				prev := run(g)
				cfg := Config{Target: target, Model: m, After: func(i int, pass string, g *ir.Graph) error {
					if err := ir.Verify(g); err != nil {
						return fmt.Errorf("after %s: %w", pass, err)
					}
					y := run(g)
					if d := maxAbsDiff(prev, y); !(d <= 1e-5) {
						return fmt.Errorf("after %s: outputs differ by %g", pass, d)
					}
					prev = y
					return nil
				}}
				if err := Run(g, cfg); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
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
