package interp_test

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/runtime"
)

func loadSource(t *testing.T, src string) *ir.Graph {
	t.Helper()
	g, err := dsl.Load("m.rn", dsl.Options{ReadFile: func(p string) ([]byte, error) {
		if p == "m.rn" {
			return []byte(src), nil
		}
		return nil, os.ErrNotExist
	}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestDilation: a conv whose kernel is dilated (dh, dw) computes what the
// undilated conv computes with the kernel spread out — its taps dh rows
// and dw columns apart, zeros between them — over the same padded input:
// an oracle independent of the dilated loop. Strides, both paddings and
// non-square kernels and dilations included.
func TestDilation(t *testing.T) {
	for i, c := range []struct {
		k, d, s [2]int
		same    bool
	}{
		{[2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, false},
		{[2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, true},
		{[2]int{3, 3}, [2]int{2, 3}, [2]int{1, 1}, true},
		{[2]int{3, 2}, [2]int{3, 2}, [2]int{2, 2}, true},
		{[2]int{2, 3}, [2]int{2, 1}, [2]int{2, 1}, false},
		{[2]int{1, 3}, [2]int{4, 3}, [2]int{1, 2}, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			span := [2]int{(c.k[0]-1)*c.d[0] + 1, (c.k[1]-1)*c.d[1] + 1}
			conv := func(k [2]int, dil string) *ir.Graph {
				pad := "valid"
				if c.same {
					pad = "same"
				}
				return loadSource(t, fmt.Sprintf(`model m() {
    x = Input(shape = [11, 10, 3])
    return Conv2D(x, 5, [%d, %d], strides = [%d, %d], padding = %q%s, name = "c")
}
`, k[0], k[1], c.s[0], c.s[1], pad, dil))
			}
			dilated := conv(c.k, fmt.Sprintf(", dilation_rate = [%d, %d]", c.d[0], c.d[1]))
			spread := conv(span, "")
			a, b := dilated.OpByName("c"), spread.OpByName("c")
			if a.Attrs.Pad != b.Attrs.Pad || a.Out().Type.String() != b.Out().Type.String() {
				t.Fatalf("dilated: pads %v, %s; spread: pads %v, %s", a.Attrs.Pad, a.Out().Type, b.Attrs.Pad, b.Out().Type)
			}
			w := interp.RandomWeights(dilated, uint64(i+1))
			k, err := w.Data("c/kernel")
			if err != nil {
				t.Fatal(err)
			}
			bias, err := w.Data("c/bias")
			if err != nil {
				t.Fatal(err)
			}
			const cin, cout = 3, 5
			ks := make([]float32, span[0]*span[1]*cin*cout) // HWIO
			for y := 0; y < c.k[0]; y++ {
				for x := 0; x < c.k[1]; x++ {
					src := (y*c.k[1] + x) * cin * cout
					dst := (y*c.d[0]*span[1] + x*c.d[1]) * cin * cout
					copy(ks[dst:dst+cin*cout], k[src:src+cin*cout])
				}
			}
			ws := runtime.NewWeights()
			if err := ws.Add("c/kernel", []int{span[0], span[1], cin, cout}, ks); err != nil {
				t.Fatal(err)
			}
			if err := ws.Add("c/bias", []int{cout}, bias); err != nil {
				t.Fatal(err)
			}
			in := interp.RandomInput(11, 10, 3, 2, uint64(i+7))
			got, err := interp.Eval(dilated, w, in, 2)
			if err != nil {
				t.Fatal(err)
			}
			want, err := interp.Eval(spread, ws, in, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(got[0]) != len(want[0]) {
				t.Fatalf("%d outputs, want %d", len(got[0]), len(want[0]))
			}
			for j := range want[0] {
				if d := math.Abs(float64(got[0][j] - want[0][j])); d > 1e-6 {
					t.Fatalf("output %d: %v, want %v", j, got[0][j], want[0][j])
				}
			}
		})
	}
}
