package avx512

import (
	"math"
	"math/rand"
	"testing"
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
			return float64(a.In[((ch/16*s.H+h)*s.W+w)*16+ch%16])
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
		for oc := 0; oc < s.OCB()*16; oc++ {
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
							v += float64(a.Res[((oc/16*rh+y*rs)*rw+x*rs)*16+oc%16])
						case Store0:
							o0 = v
						case Affine:
							v = v*float64(a.Scale[oc]) + float64(a.Shift[oc])
						case Store1:
							o1 = v
						}
					}
					i := ((oc/16*s.OH()+y)*s.OW()+x)*16 + oc%16
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
// the ResNet50V2 layers.
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
		nbc := 32 - tl.NB - tl.NB*tl.URW
		if tl.URW < 1 || tl.URW > s.OW() || tl.NB*tl.URW > 28 || (!tl.Embed && nbc < 2) {
			t.Errorf("%+v: tiling %v", s, tl)
		}
		if tl.ICC < 1 || tl.ICC > s.ICB() {
			t.Errorf("%+v: ICC %d", s, tl.ICC)
		}
	}
}
