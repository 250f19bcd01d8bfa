package passes

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/internal/randmodel"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
)

// int8Graph runs the int8 pipeline on g up to fuse (the graph rnc quantize
// calibrates), returning it before quantize.
func int8Graph(t *testing.T, g *ir.Graph) {
	t.Helper()
	if err := Run(g, Config{Target: AVX512, Precision: Int8, Stop: "fuse", Check: true}); err != nil {
		t.Fatal(err)
	}
}

// TestPlanInt8Models: on the Keras ResNets every conv but the stem is
// int8 (ResNet50V2 and ResNet50: 52 of 53), the quantize pass's graph
// verifies, and float32 meets u8 only where the stem's output is
// quantized and the head reads the last u8 map.
func TestPlanInt8Models(t *testing.T) {
	for _, c := range []struct {
		model             string
		int8, quant, deq  int
		floatConvContains string
	}{
		{"resnet50v2", 52, 1, 1, "stem"},
		{"resnet50", 52, 1, 1, "stem"},
		{"tinyv2", 14, 1, 1, "stem"},
	} {
		g, err := dsl.Load(filepath.Join("..", "models", c.model+".rn"), dsl.Options{Set: map[string]string{"input_shape": "[64, 64, 3]"}})
		if err != nil {
			t.Fatal(err)
		}
		int8Graph(t, g)
		p := PlanInt8(g)
		for op, why := range p.Why {
			if !strings.Contains(why, c.floatConvContains) {
				t.Errorf("%s: %s stays float32: %s", c.model, op.Name(), why)
			}
		}
		t.Logf("%s: %d int8 convs, %d float32", c.model, len(p.Convs), len(p.Why))
		if len(p.Convs) != c.int8 {
			t.Errorf("%s: %d int8 convs, want %d", c.model, len(p.Convs), c.int8)
		}
		if err := Quantize(g); err != nil {
			t.Fatal(err)
		}
		if err := ir.Verify(g); err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		count := map[ir.Kind]int{}
		for _, op := range g.Ops {
			count[op.Kind]++
		}
		if count[ir.Quantize] != c.quant || count[ir.Dequantize] != c.deq {
			t.Errorf("%s: %d Quantize and %d Dequantize ops, want %d and %d", c.model, count[ir.Quantize], count[ir.Dequantize], c.quant, c.deq)
		}
		if err := MemPlan(g); err != nil {
			t.Fatal(err)
		}
		if err := ir.Verify(g); err != nil {
			t.Fatalf("%s after memplan: %v", c.model, err)
		}
		// The text form round-trips (u8 types, q=(scale,zero), s8 file tensors).
		text := g.String()
		back, err := ir.Parse(text)
		if err != nil {
			t.Fatalf("%s: parsing the int8 graph: %v", c.model, err)
		}
		if err := ir.Verify(back); err != nil {
			t.Fatalf("%s: the parsed int8 graph: %v", c.model, err)
		}
		if back.String() != text {
			t.Errorf("%s: the int8 graph's text form does not round-trip", c.model)
		}
	}
}

// TestNonNegativeSound: on 40 random models (every builtin, odd shapes,
// sigmoid and gated epilogues), every value NonNegative calls
// non-negative is, in the interpreter, with random weights and inputs;
// and the quantize pass's graph verifies on every one of them.
func TestNonNegativeSound(t *testing.T) {
	checked, int8Convs := 0, 0
	for seed := uint64(1); seed <= 40; seed++ {
		m := randmodel.New(seed)
		g, err := dsl.Load(m.Name+".rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(m.Source), nil }})
		if err != nil {
			t.Fatal(err)
		}
		int8Graph(t, g)
		w := interp.RandomWeights(g, seed)
		in := g.Inputs()[0].Type
		x := interp.RandomInput(in.H(), in.W(), in.C(), 1, seed)
		it, err := interp.New(g, w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := it.RunObserved(x, 1, func(op *ir.Op, outs [][]float32) {
			for i, o := range op.Outputs {
				if !NonNegative(o) {
					continue
				}
				checked++
				for j, v := range outs[i] {
					if v < 0 {
						t.Errorf("%s: %s output %d is %v at %d, but NonNegative says it cannot be", m.Name, op.Name(), i, v, j)
						return
					}
				}
			}
		}); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		int8Convs += len(PlanInt8(g).Convs)
		if err := Quantize(g); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if err := ir.Verify(g); err != nil {
			t.Fatalf("%s: %v\n%s", m.Name, err, m.Source)
		}
	}
	t.Logf("%d non-negative values checked; %d int8 convs in the 40 models", checked, int8Convs)
	if checked < 40 || int8Convs < 20 {
		t.Errorf("the models exercised too little: %d values, %d int8 convs", checked, int8Convs)
	}
}
