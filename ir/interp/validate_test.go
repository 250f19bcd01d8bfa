package interp_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// badVariance returns tinyv2's golden weights with one batch-norm variance
// of conv2_block1_preact_bn negative at channel 3.
func badVariance(t *testing.T) *runtime.Weights {
	t.Helper()
	src, err := runtime.ReadSafetensorsFile(filepath.Join("..", "..", "testdata", "golden", "tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ws := runtime.NewWeights()
	for _, name := range src.Order {
		data, err := src.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		data = append([]float32(nil), data...)
		if name == "conv2_block1_preact_bn/moving_variance" {
			data[3] = -1
		}
		if err := ws.Add(name, src.Tensors[name].Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// TestBadVariance: the interpreter refuses a negative batch-norm variance
// on the graph as expanded (where it reads the variance directly) with the
// message the generated package's weight program gives (its bnscale step,
// which every lowered graph runs), not a NaN output.
func TestBadVariance(t *testing.T) {
	const want = "variance -1 + eps 1.001e-05 is not positive at channel 3"
	for _, stop := range []string{"none", "bnfold", "all"} {
		g, err := dsl.Load(filepath.Join("..", "..", "models", "tinyv2.rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := passes.Config{Target: passes.Generic, Stop: stop}
		if stop == "all" {
			cfg.Stop = ""
		}
		if err := passes.Run(g, cfg); err != nil {
			t.Fatal(err)
		}
		_, err = interp.New(g, badVariance(t))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("after %s: error %v, want one containing %q", stop, err, want)
		}
		if stop == "none" && (err == nil || !strings.Contains(err.Error(), `BatchNormalization conv2_block1_preact_bn: tensor "conv2_block1_preact_bn/moving_variance"`)) {
			t.Errorf("the error does not name the layer and tensor: %v", err)
		}
		if stop != "none" { // the weight program the generated package runs
			steps, _ := codegen.WeightSteps(g)
			if _, err := runtime.RunWeightProgram(steps, badVariance(t), nil); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("after %s: weight program error %v, want one containing %q", stop, err, want)
			}
		}
	}
}

// TestImageBytes: the memory a run holds per image (for rnc run's batch
// limit) is every value of the graph as expanded, or the arena once memplan
// has run, plus the largest op's operands.
func TestImageBytes(t *testing.T) {
	w, err := runtime.ReadSafetensorsFile(filepath.Join("..", "..", "testdata", "golden", "tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, planned := range []bool{false, true} {
		g, err := dsl.Load(filepath.Join("..", "..", "models", "tinyv2.rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if planned {
			if err := passes.Run(g, passes.Config{Target: passes.AVX512}); err != nil {
				t.Fatal(err)
			}
		}
		var values, largest int64
		for _, op := range g.Ops {
			var operands int64
			for _, v := range op.Inputs {
				operands += v.Type.Bytes()
			}
			for _, v := range op.Outputs {
				operands += v.Type.Bytes()
				values += v.Type.Bytes()
			}
			largest = max(largest, operands)
		}
		want := values + largest
		if planned {
			arena, _, _ := ir.ArenaStats(g)
			if arena >= values {
				t.Fatalf("arena %d not below the sum of values %d", arena, values)
			}
			want = arena + largest
		}
		it, err := interp.New(g, w)
		if err != nil {
			t.Fatal(err)
		}
		if got := it.ImageBytes(); got != want {
			t.Errorf("planned %v: ImageBytes %d, want %d", planned, got, want)
		}
	}
}

// TestNonFiniteWeights: a NaN in a file tensor is refused, on the graph as
// written and lowered, whether the weights are in memory (Weights.Check
// sees them) or read from the file on demand (the interpreter's own check
// as it reads them), with the message the generated package's weight
// program gives.
func TestNonFiniteWeights(t *testing.T) {
	const want = `tensor "conv1_conv/kernel" holds a non-finite value NaN at flat index 5`
	bad := badVariance(t) // a fresh copy; restore the variance
	bad.Tensors["conv2_block1_preact_bn/moving_variance"].Data[3] = 1
	bad.Tensors["conv1_conv/kernel"].Data[5] = float32(math.NaN())
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := runtime.WriteSafetensorsFile(path, bad); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []string{"none", "all"} {
		g, err := dsl.Load(filepath.Join("..", "..", "models", "tinyv2.rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if stop == "all" {
			if err := passes.Run(g, passes.Config{Target: passes.AVX512}); err != nil {
				t.Fatal(err)
			}
		}
		lazy, err := runtime.OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		defer lazy.Close()
		for name, w := range map[string]*runtime.Weights{"in memory": bad, "lazy": lazy} {
			if _, err := interp.New(g, w); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("after %s, %s: error %v, want one containing %q", stop, name, err, want)
			}
		}
		steps, _ := codegen.WeightSteps(g)
		if _, err := runtime.RunWeightProgram(steps, lazy, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("after %s: weight program error %v, want one containing %q", stop, err, want)
		}
	}
}
