package avx2

import (
	"testing"

	rt "github.com/rnc-dev/rnc/runtime"
)

// TestRefConvPlain checks the Go twin (and PackOIHW) against a direct
// convolution on plain CHW / HWC tensors.
func TestRefConvPlain(t *testing.T) { harness.TestRefPlain(t, sweepCases()) }

// TestChooseTiling checks the tiling invariants over the test sweep and
// the ResNet50V2 layers: NB | OCB, NB ≤ 4, accumulators + weight registers
// + ≥ 1 broadcast register ≤ 16, 1 ≤ ICC ≤ ICB.
func TestChooseTiling(t *testing.T) {
	for _, s := range harness.Specs(sweepCases()) {
		tl := ChooseTiling(&s)
		if tl.NB < 1 || tl.NB > 4 || s.OCB()%tl.NB != 0 {
			t.Errorf("%+v: NB %d", s, tl.NB)
		}
		if tl.URW < 1 || tl.URW > s.OW() || tl.WR < 0 || tl.WR > tl.NB || tl.NB*tl.URW+tl.WR+1 > 16 {
			t.Errorf("%+v: tiling %v", s, tl)
		}
		if s.WMem == 0 && tl.WR < min(tl.NB, 15-tl.NB*tl.URW) {
			t.Errorf("%+v: tiling %v leaves weight registers unused", s, tl)
		}
		if tl.ICC < 1 || tl.ICC > s.ICB() {
			t.Errorf("%+v: ICC %d", s, tl.ICC)
		}
	}
}

// TestPackMatchesRuntime checks that PackOIHW produces exactly the layouts
// runtime.Pack produces from HWIO kernels ("OIhw8i8o", "Ohwi8o").
func TestPackMatchesRuntime(t *testing.T) {
	for _, s := range []ConvSpec{
		{IC: 12, OC: 20, H: 4, W: 4, KH: 3, KW: 2, SH: 1, SW: 1, Epilogue: Steps(Store)},
		{IC: 64, OC: 8, H: 4, W: 4, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: Steps(Store)},
		{IC: 3, OC: 10, H: 4, W: 4, KH: 2, KW: 3, SH: 1, SW: 1, FirstNHWC: true, Epilogue: Steps(Store)},
	} {
		w := make([]float32, s.OC*s.IC*s.KH*s.KW)
		for i := range w {
			w[i] = float32(i + 1)
		}
		hwio := make([]float32, len(w))
		for oc := 0; oc < s.OC; oc++ {
			for ic := 0; ic < s.IC; ic++ {
				for kh := 0; kh < s.KH; kh++ {
					for kw := 0; kw < s.KW; kw++ {
						hwio[((kh*s.KW+kw)*s.IC+ic)*s.OC+oc] = w[((oc*s.IC+ic)*s.KH+kh)*s.KW+kw]
					}
				}
			}
		}
		layout := "OIhw8i8o"
		if s.FirstNHWC {
			layout = "Ohwi8o"
		}
		want, err := rt.Pack(layout, hwio, []int{s.KH, s.KW, s.IC, s.OC})
		if err != nil {
			t.Fatal(err)
		}
		got := PackOIHW(&s, w)
		if len(got) != len(want) {
			t.Fatalf("%s: %d packed values, runtime.Pack has %d", layout, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s %+v: packed[%d] = %g, runtime.Pack has %g", layout, s, i, got[i], want[i])
			}
		}
	}
}
