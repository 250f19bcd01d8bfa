package codegen

import (
	"flag"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

var weightprogAll = flag.Bool("weightprog-all", false, "TestWeightProgramMatchesInterp: also the models of over 30M parameters")

// TestWeightProgramMatchesInterp is the differential test of the weight
// program: for every model in models/ and models/variants (as written,
// random weights), lowered for every target, every weight the program
// computes — folded batch norms, scaled kernels, packed kernels and
// vectors, Winograd U — has the same value from the runtime's program
// (WeightSteps run by runtime.RunWeightProgram, what a generated package
// does at load) and from the interpreter's own evaluation of the IR's
// expressions (interp.EvalWeights), within float32 rounding. The two share
// no code; the interpreter evaluates in float64 and rounds once.
//
// Models of over 30M parameters (ResNet101, 152, 200 and their V2s: the
// same weight forms as ResNet50's, more of them) run with
// -weightprog-all.
func TestWeightProgramMatchesInterp(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates every model's weights three times")
	}
	limit := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(limit)
	files, _ := filepath.Glob(filepath.Join("..", "models", "*.rn"))
	variants, _ := filepath.Glob(filepath.Join("..", "models", "variants", "*.rn"))
	files = append(files, variants...)
	if len(files) < 20 {
		t.Fatalf("found only %d models", len(files))
	}
	// A batch norm folded forward into a 1x1 conv without a bias: bnfold
	// gives the conv a zero bias to shift.
	files = append(files, "nobias.rn")
	nobias := `model nobias(input_shape = [16, 16, 5]) {
    x = Input(shape = input_shape)
    x = BatchNormalization(x, name = "bn0")
    x = Conv2D(x, 20, 1, use_bias = false, name = "conv0")
    x = Conv2D(x, 20, 3, padding = "same", use_bias = false, name = "conv")
    x = BatchNormalization(x, name = "bn")
    x = GlobalAveragePooling2D(x)
    return Dense(x, 7, use_bias = false)
}
`
	// Grouped convolutions (ResNeXt's): the dense kernel of each, a BN
	// folded into one.
	files = append(files, "grouped.rn")
	grouped := `model grouped(input_shape = [12, 12, 8]) {
    x = Input(shape = input_shape)
    x = Conv2D(x, 12, 3, padding = "same", groups = 4, use_bias = false, name = "g4")
    x = BatchNormalization(x, name = "bn")
    x = Conv2D(x, 64, 1, name = "wide")
    x = Conv2D(x, 64, 3, padding = "same", groups = 32, use_bias = false, name = "g32")
    x = BatchNormalization(x, name = "bn2")
    x = Conv2D(x, 6, 1, groups = 2, name = "g2")
    x = GlobalAveragePooling2D(x)
    return Dense(x, 5)
}
`
	kinds := map[string]int{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rn")
		t.Run(name, func(t *testing.T) {
			opt := dsl.Options{}
			switch f {
			case "nobias.rn":
				opt.ReadFile = func(string) ([]byte, error) { return []byte(nobias), nil }
			case "grouped.rn":
				opt.ReadFile = func(string) ([]byte, error) { return []byte(grouped), nil }
			}
			g0, err := dsl.Load(f, opt)
			if err != nil {
				t.Fatal(err)
			}
			if p := ir.Count(g0).Params; p > 30e6 && !*weightprogAll {
				t.Skipf("%d parameters: the forms of ResNet50's weights, more of them (-weightprog-all runs it)", p)
			}
			w := interp.RandomWeights(g0, 1)
			for _, tg := range []passes.Target{passes.AVX512, passes.AVX2, passes.Generic} {
				g := g0.Clone()
				if err := passes.Run(g, passes.Config{Target: tg, Model: name}); err != nil {
					t.Fatal(err)
				}
				for k, n := range compareWeightProgram(t, g, w, string(tg)) {
					kinds[k] += n
				}
			}
		})
	}
	// An int8 model: s8 kernels packed OIhw4i16o4i, m = scaleby(s_w, s_x),
	// from the quantized file of tinyv2 calibrated on digits.
	t.Run("tinyv2-int8", func(t *testing.T) {
		r, _, _ := digitsInt8(t)
		g8, w8, err := r.Int8Graph()
		if err != nil {
			t.Fatal(err)
		}
		for k, n := range compareWeightProgram(t, g8, w8, "int8") {
			kinds[k] += n
		}
	})
	t.Logf("compared weights by operation: %v", kinds)
	// The comparison must have covered every kind of computed weight.
	for _, op := range []ir.WOp{ir.WBNScale, ir.WBNShift, ir.WScaleOut, ir.WScaleIn, ir.WAffine, ir.WMatVecAdd, ir.WZeros, ir.WPack, ir.WScaleBy, ir.WGroupExpand} {
		if kinds[op.String()] == 0 {
			t.Errorf("no %s weight compared", op)
		}
	}
	for _, l := range ir.PackLayouts() {
		if kinds["pack "+l] == 0 {
			t.Errorf("no weight packed as %s compared", l)
		}
	}
}

// compareWeightProgram runs g's weight program on w and compares the
// weights g's ops read (their parameters and epilogue scales and shifts:
// what a generated package keeps of its program) with the interpreter's
// evaluation — one weight of every form: weights whose expressions have
// the same operations, layouts, constants and shapes (the 36 identical
// blocks of a ResNet152 stage) differ only in their data. It counts the
// weights compared and those they are computed from, by operation (and
// packed layout).
func compareWeightProgram(t *testing.T, g *ir.Graph, w *runtime.Weights, target string) map[string]int {
	t.Helper()
	steps, index := WeightSteps(g)
	forms := map[*ir.Weight]string{}
	var form func(x *ir.Weight) string
	form = func(x *ir.Weight) string {
		if f, ok := forms[x]; ok {
			return f
		}
		f := fmt.Sprintf("%s %s %v %v(", x.Op, x.Layout, x.Eps, x.Shape)
		for _, a := range x.Args {
			f += form(a) + ","
		}
		forms[x] = f + ")"
		return forms[x]
	}
	var compared []*ir.Weight
	seen := map[string]bool{}
	keep := make([]bool, len(steps))
	for _, op := range g.Ops {
		read := []*ir.Weight{}
		for _, x := range op.Params {
			read = append(read, x)
		}
		for _, st := range op.Attrs.Epi {
			read = append(read, st.Scale, st.Shift)
		}
		for _, x := range read {
			if x != nil && !seen[form(x)] {
				seen[form(x)] = true
				compared = append(compared, x)
				keep[index[x]] = true
			}
		}
	}
	rt, err := runtime.RunWeightProgram(steps, w, keep)
	if err != nil {
		t.Fatalf("%s: runtime: %v", target, err)
	}
	ip, err := interp.EvalWeights(g, w, compared)
	if err != nil {
		t.Fatalf("%s: interp: %v", target, err)
	}
	kinds := map[string]int{}
	counted := map[*ir.Weight]bool{}
	var count func(x *ir.Weight)
	count = func(x *ir.Weight) {
		if counted[x] {
			return
		}
		counted[x] = true
		kinds[x.Op.String()]++
		if x.Op == ir.WPack {
			kinds["pack "+x.Layout]++
		}
		for _, a := range x.Args {
			count(a)
		}
	}
	for i, x := range compared {
		if err := sameWeight(rt[index[x]], ip[i]); err != nil {
			t.Errorf("%s: weight %s: runtime and interpreter differ: %v", target, x, err)
		}
		count(x)
	}
	return kinds
}

// sameWeight reports where two evaluations of a weight differ by more than
// float32 rounding: the runtime rounds every step to float32 and the
// interpreter only its result, so they may differ by a few units in the
// last place of the tensor's magnitudes (a difference that cancels, such
// as beta − mean·scale, keeps the error of its terms).
func sameWeight(rt, ip []float32) error {
	if len(rt) != len(ip) {
		return fmt.Errorf("%d and %d values", len(rt), len(ip))
	}
	var scale float32
	for _, v := range ip {
		scale = max(scale, v, -v)
	}
	floor := scale / 4
	for i, a := range rt {
		b := ip[i]
		if d, tol := a-b, 8*0x1p-24*max(b, -b, floor); !(d <= tol && -d <= tol) {
			return fmt.Errorf("at %d: runtime %v, interpreter %v (tolerance %.3g)", i, a, b, tol)
		}
	}
	return nil
}
