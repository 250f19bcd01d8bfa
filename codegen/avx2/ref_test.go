package avx2

import (
	"math"
	"math/rand"
	"testing"

	rt "github.com/rnc-dev/rnc/runtime"
)

// TestRefConvPlain checks the Go twin (and PackOIHW) against a direct
// convolution on plain CHW / HWC tensors.
func TestRefConvPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range sweepCases() {
		s := c.Spec
		if s.H*s.W*s.IC*s.OC*s.KH*s.KW > 2e6 {
			continue
		}
		a := randInputs(&s, rng)
		// Plain copies of the inputs.
		plainIn := func(ch, h, w int) float64 {
			if s.FirstNHWC {
				return float64(a.In[(h*s.W+w)*s.IC+ch])
			}
			return float64(a.In[((ch/8*s.H+h)*s.W+w)*8+ch%8])
		}
		w := make([]float32, s.OC*s.IC*s.KH*s.KW)
		for i := range w {
			w[i] = float32(rng.Float64() - 0.5)
		}
		a.Wt = PackOIHW(&s, w)
		z := s.Sizes()
		a.Out0, a.Out1 = make([]float32, z.Out0), make([]float32, z.Out1)
		RefConv(&s, a, 0, s.OCB(), 0, s.OH())
		rh, rw, _ := s.resDims()
		for oc := 0; oc < s.OCB()*8; oc++ {
			for y := 0; y < s.OH(); y++ {
				for x := 0; x < s.OW(); x++ {
					v := 0.0
					for ic := 0; ic < s.IC && oc < s.OC; ic++ {
						for kh := 0; kh < s.KH; kh++ {
							for kw := 0; kw < s.KW; kw++ {
								ih, iw := y*s.SH-s.PadT+kh, x*s.SW-s.PadL+kw
								if ih >= 0 && ih < s.H && iw >= 0 && iw < s.W {
									v += plainIn(ic, ih, iw) * float64(w[((oc*s.IC+ic)*s.KH+kh)*s.KW+kw])
								}
							}
						}
					}
					var o0, o1 float64
					for _, st := range s.Epilogue {
						switch st.Kind {
						case Bias:
							v += float64(a.Bias[oc])
						case Relu:
							v = math.Max(v, 0)
						case AddResidual:
							rs := max(st.ResStride, 1)
							v += float64(a.Res[((oc/8*rh+y*rs)*rw+x*rs)*8+oc%8])
						case Store0:
							o0 = v
						case Affine:
							v = v*float64(a.Scale[oc]) + float64(a.Shift[oc])
						case Store1:
							o1 = v
						}
					}
					i := ((oc/8*s.OH()+y)*s.OW()+x)*8 + oc%8
					if d := math.Abs(float64(a.Out0[i]) - o0); d > 1e-4 {
						t.Fatalf("%s: out0[%d] = %g, want %g", c.Name, i, a.Out0[i], o0)
					}
					if z.Out1 > 0 {
						if d := math.Abs(float64(a.Out1[i]) - o1); d > 1e-4 {
							t.Fatalf("%s: out1[%d] = %g, want %g", c.Name, i, a.Out1[i], o1)
						}
					}
				}
			}
		}
	}
}

// TestChooseTiling checks the tiling invariants over the test sweep and
// the ResNet50V2 layers: NB | OCB, NB ≤ 4, accumulators + weight registers
// + ≥ 1 broadcast register ≤ 16, 1 ≤ ICC ≤ ICB.
func TestChooseTiling(t *testing.T) {
	specs := []ConvSpec{}
	for _, c := range sweepCases() {
		specs = append(specs, c.Spec)
	}
	for _, l := range resnet50v2Layers() {
		specs = append(specs, l.Spec)
	}
	for _, s := range specs {
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
		{IC: 12, OC: 20, H: 4, W: 4, KH: 3, KW: 2, SH: 1, SW: 1, Epilogue: Steps(Store0)},
		{IC: 64, OC: 8, H: 4, W: 4, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: Steps(Store0)},
		{IC: 3, OC: 10, H: 4, W: 4, KH: 2, KW: 3, SH: 1, SW: 1, FirstNHWC: true, Epilogue: Steps(Store0)},
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
