package codegen

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
)

// groupedModels are small models whose grouped convolutions carry every
// epilogue the conv kernels take — a residual add at stride 1 and 2, a
// gate, an affine, the pre-activation block's two outputs — with groups
// that fill whole blocks (Cg 16, 32), groups that merge into blocks (Cg 4,
// 8) and groups that fit no block (Cg 3: the dense expansion), at odd map
// sizes.
var groupedModels = map[string]string{
	"g_residual": `model g_residual(input_shape = [9, 11, 64]) {
    x = Input(shape = input_shape)
    y = Conv2D(x, 64, 3, padding = "same", groups = 16, use_bias = false, name = "gconv")
    y = BatchNormalization(y, name = "bn")
    y = Add([x, y], name = "add")
    y = Activation(y, "relu", name = "relu")
    y = Conv2D(y, 64, 1, groups = 2, name = "g2")
    return GlobalAveragePooling2D(y)
}
`,
	"g_stride2": `model g_stride2(input_shape = [13, 10, 64]) {
    x = Input(shape = input_shape)
    s = MaxPooling2D(x, 1, strides = 2, name = "sub")
    y = ZeroPadding2D(x, padding = 1, name = "pad")
    y = Conv2D(y, 64, 3, strides = 2, groups = 8, name = "gconv")
    y = Add([s, y], name = "add")
    return GlobalAveragePooling2D(y)
}
`,
	"g_gate": `model g_gate(input_shape = [7, 9, 32]) {
    x = Input(shape = input_shape)
    g = Conv2D(x, 32, 1, activation = "sigmoid", name = "gate")
    y = Conv2D(x, 32, 3, padding = "same", groups = 2, name = "gconv")
    y = Multiply([y, g], name = "mul")
    return GlobalAveragePooling2D(y)
}
`,
	"g_preact": `model g_preact(input_shape = [8, 8, 48]) {
    x = Input(shape = input_shape)
    p = BatchNormalization(x, name = "pre_bn")
    p = Activation(p, "relu", name = "pre_relu")
    y = Conv2D(p, 48, 3, padding = "same", groups = 12, name = "gconv1")
    y = Add([x, y], name = "add1")
    q = BatchNormalization(y, name = "pre2_bn")
    q = Activation(q, "relu", name = "pre2_relu")
    z = Conv2D(q, 48, 1, groups = 3, name = "gconv2")
    z = Add([y, z], name = "add2")
    return GlobalAveragePooling2D(z)
}
`,
	"g_odd": `model g_odd(input_shape = [6, 5, 12]) {
    x = Input(shape = input_shape)
    y = Conv2D(x, 24, 3, groups = 4, activation = "relu", name = "g4")
    y = Conv2D(y, 30, 1, groups = 6, name = "g6")
    return GlobalAveragePooling2D(y)
}
`,
	"g_narrow": `model g_narrow(input_shape = [11, 9, 32]) {
    x = Input(shape = input_shape)
    d = Conv2D(x, 32, 3, strides = 2, padding = "same", groups = 32, activation = "relu", name = "dw")
    y = Conv2D(d, 32, 3, padding = "same", groups = 16, name = "g2")
    y = Add([d, y], name = "add")
    z = Conv2D(y, 24, 1, name = "squeeze")
    z = Conv2D(z, 24, 3, padding = "same", groups = 12, activation = "relu", name = "g2b")
    z = Conv2D(z, 16, 1, name = "expand")
    z = Conv2D(z, 16, 3, padding = "same", groups = 4, name = "g4")
    e = Conv2D(z, 32, 1, name = "expand2")
    v = Conv2D(e, 32, 3, padding = "same", groups = 4, name = "g8")
    v = Add([e, v], name = "add8")
    return GlobalAveragePooling2D(v)
}
`,
	// An infinity in one input channel: a narrow grouped conv (groups of 4)
	// keeps it in its group; the others' outputs stay finite, as PyTorch's.
	"g_inf": `model g_inf(input_shape = [5, 6, 16]) {
    x = Input(shape = input_shape)
    y = Conv2D(x, 16, 3, padding = "same", groups = 4, name = "g4")
    return Flatten(y)
}
`,
}

// TestGroupedConvs: generated packages of groupedModels equal the
// interpreter's grouped convolution (its own code, on the graph as
// written) on every target this CPU runs; the conv kernels computing one
// group each, on pointers offset to it, with every epilogue and both
// outputs.
func TestGroupedConvs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := tempDir("grouped-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var pkgs []string
	split := map[string]bool{} // the models whose lowered graph runs a conv in groups
	for name, src := range groupedModels {
		g, err := dsl.Load(name+".rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(src), nil }})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := interp.RandomWeights(g, 1)
		in := g.Inputs()[0].Type
		x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 2)
		if name == "g_inf" {
			x[(2*in.W()+3)*in.C()+5] = float32(math.Inf(1)) // image 0, pixel (2, 3), channel 5: group 1
		}
		y, err := interp.Eval(g, w, x, 2)
		if err != nil {
			t.Fatal(err)
		}
		if name == "g_inf" {
			nonFinite := 0
			for _, v := range y[0] {
				if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
					nonFinite++
				}
			}
			// Group 1's 4 outputs at the 3×3 pixels the tap reaches.
			if nonFinite == 0 || nonFinite > 4*9 {
				t.Fatalf("g_inf: %d non-finite outputs in the interpreter, want 1 to 36", nonFinite)
			}
		}
		pkgs = append(pkgs, writePackage(t, dir, name, g, w, x, y[0]))
		for _, tg := range allTargets {
			h := g.Clone()
			if err := passes.Run(h, passes.Config{Target: tg}); err != nil {
				t.Fatal(err)
			}
			for _, op := range h.Ops {
				if op.Kind == ir.Conv2D && op.Attrs.G() > 1 {
					split[fmt.Sprintf("%s/%s (%d groups, %d epilogue steps)", name, tg, op.Attrs.G(), len(op.Attrs.Epi))] = true
				}
			}
		}
	}
	var s []string
	for k := range split {
		s = append(s, k)
	}
	t.Logf("grouped convs after the pipeline: %s", strings.Join(s, "; "))
	if len(split) < 8 {
		t.Errorf("only %d grouped convs run in groups after the pipeline", len(split))
	}
	goTest(t, pkgs, "-run", "TestReference|TestDeterministic")
}
