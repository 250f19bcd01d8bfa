package interp_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// TestObserver: RunObserved shows every op's every output exactly once per
// run, in graph order, with n images of logical values; watching changes
// nothing, and what the observer writes is what the op's readers and the
// graph's outputs see (the input included, without touching the caller's
// slice). On the graph as expanded and as lowered (blocked layouts, fused
// dual-output convs, a planned arena).
func TestObserver(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "golden")
	w, err := runtime.ReadSafetensorsFile(filepath.Join(dir, "tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x := readF32(t, filepath.Join(dir, "tinyv2_input_b2_seed2.f32"))
	const n = 2
	for _, lowered := range []bool{false, true} {
		g, err := dsl.Load(filepath.Join("..", "..", "models", "tinyv2.rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if lowered {
			if err := passes.Run(g, passes.Config{Target: passes.AVX512}); err != nil {
				t.Fatal(err)
			}
		}
		it, err := interp.New(g, w)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := it.Run(x, n)
		if err != nil {
			t.Fatal(err)
		}

		seen := map[*ir.Op]int{}
		var order []*ir.Op
		dual := false
		outs, err := it.RunObserved(x, n, func(op *ir.Op, vals [][]float32) {
			seen[op]++
			order = append(order, op)
			if len(vals) != len(op.Outputs) {
				t.Errorf("lowered %v: %s: %d outputs shown, the op has %d", lowered, op.Name(), len(vals), len(op.Outputs))
				return
			}
			dual = dual || len(vals) > 1
			for i, v := range op.Outputs {
				if want := n * logicalSize(v.Type); len(vals[i]) != want {
					t.Errorf("lowered %v: %s output %d: %d values, want %d", lowered, op.Name(), i, len(vals[i]), want)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(order, g.Ops) {
			t.Errorf("lowered %v: observed %d ops, want the graph's %d in order", lowered, len(order), len(g.Ops))
		}
		for op, k := range seen {
			if k != 1 {
				t.Errorf("lowered %v: %s observed %d times", lowered, op.Name(), k)
			}
		}
		if lowered && !dual {
			t.Error("the lowered tinyv2 has no dual-output op: the test no longer covers one")
		}
		if !slices.Equal(outs[0], plain[0]) {
			t.Errorf("lowered %v: observing changed the outputs", lowered)
		}

		// Writes reach the readers. Zeroing the input is running on zeros;
		// the caller's input is left alone.
		zeros := make([]float32, len(x))
		want, err := it.Run(zeros, n)
		if err != nil {
			t.Fatal(err)
		}
		keep := slices.Clone(x)
		got, err := it.RunObserved(x, n, func(op *ir.Op, vals [][]float32) {
			if op.Kind == ir.Input {
				clear(vals[0])
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[0], want[0]) {
			t.Errorf("lowered %v: zeroing the observed input: %v, want the outputs on zeros %v", lowered, got[0], want[0])
		}
		if !slices.Equal(x, keep) {
			t.Errorf("lowered %v: the observer's write changed the caller's input", lowered)
		}
		// Zeroing every output of the op the classifier reads leaves the
		// classifier its bias: the same probabilities for both images.
		last := g.Outputs[0].Def
		got, err = it.RunObserved(x, n, func(op *ir.Op, vals [][]float32) {
			if op != last && op.Kind != ir.Input {
				for _, o := range op.Outputs {
					for _, u := range g.Uses()[o] {
						if u == last {
							for _, v := range vals {
								clear(v)
							}
						}
					}
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		k := len(got[0]) / n
		if !slices.Equal(got[0][:k], got[0][k:]) || slices.Equal(got[0], plain[0]) {
			t.Errorf("lowered %v: with the classifier's input zeroed the two images give %v", lowered, got[0])
		}
		// And the graph's outputs are what the observer leaves.
		got, err = it.RunObserved(x, n, func(op *ir.Op, vals [][]float32) {
			if op == last {
				for i := range vals[0] {
					vals[0][i] = float32(i)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got[0] {
			if v != float32(i) {
				t.Fatalf("lowered %v: output %d is %v, the observer wrote %d", lowered, i, v, i)
			}
		}
	}
}

// logicalSize is the number of values of one image of type t.
func logicalSize(t ir.Type) int {
	k := 1
	for _, d := range t.Dims {
		k *= d
	}
	return k
}
