package passes

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
)

// small input sizes that keep the interpreter fast and every stride legal.
var modelSizes = map[string]string{
	"resnet50v2": "[64,64,3]", "resnet101v2": "[32,32,3]", "resnet152v2": "[32,32,3]",
	"resnet50": "[64,64,3]", "resnet101": "[32,32,3]", "resnet152": "[32,32,3]",
	"tinyv2": "", "tinyv1": "", "stemv2": "",
}

func loadFull(m string) (*ir.Graph, error) {
	return dsl.Load(filepath.Join("..", "models", m+".rn"), dsl.Options{})
}

func loadSmall(t testing.TB, m string) *ir.Graph {
	t.Helper()
	set := map[string]string{}
	if s := modelSizes[m]; s != "" {
		set["input_shape"] = s
	}
	g, err := dsl.Load(filepath.Join("..", "models", m+".rn"), dsl.Options{Set: set})
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
				if target == AVX2 && len(m) > 7 && m[:7] == "resnet1" {
					t.Skip("the deep models run once, for avx512")
				}
				g := loadSmall(t, m)
				w := interp.RandomWeights(g, 1)
				in := g.Inputs()[0].Type
				x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 2)
				run := func(g *ir.Graph) []float32 {
					it, err := interp.New(g, w)
					if err != nil {
						t.Fatal(err)
					}
					y, err := it.Run(x, 2)
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

func sortedModels() []string {
	return []string{"tinyv2", "tinyv1", "stemv2", "resnet50v2", "resnet50", "resnet101v2", "resnet101", "resnet152v2", "resnet152"}
}
