package avx2

import (
	"math"

	"github.com/rnc-dev/rnc/codegen/avx512"
)

// Args holds the per-image buffers of one kernel call (avx512's type).
// Unused buffers may be nil. Layouts are described in the package
// documentation.
type Args = avx512.Args

// RefConv is the pure-Go twin of a generated kernel: it computes output
// rows [oh0, oh1) of output-channel blocks [ocb0, ocb1) of one image with
// exactly the semantics of the kernel generated from s (all 8 lanes of
// every block are written, including channel-padding lanes). It
// accumulates in float64.
func RefConv(s *ConvSpec, a Args, ocb0, ocb1, oh0, oh1 int) {
	ow := s.OW()
	oh := s.OH()
	icb := s.ICB()
	rh, rw, _ := s.resDims()
	for ob := ocb0; ob < ocb1; ob++ {
		for y := oh0; y < oh1; y++ {
			for x := 0; x < ow; x++ {
				var acc [8]float64
				for kh := 0; kh < s.KH; kh++ {
					ih := y*s.SH - s.PadT + kh
					if ih < 0 || ih >= s.H {
						continue
					}
					for kw := 0; kw < s.KW; kw++ {
						iw := x*s.SW - s.PadL + kw
						if iw < 0 || iw >= s.W {
							continue
						}
						if s.FirstNHWC {
							for c := 0; c < s.IC; c++ {
								v := float64(a.In[(ih*s.W+iw)*s.IC+c])
								wo := (((ob*s.KH+kh)*s.KW+kw)*s.IC + c) * 8
								for o := 0; o < 8; o++ {
									acc[o] += v * float64(a.Wt[wo+o])
								}
							}
							continue
						}
						for ib := 0; ib < icb; ib++ {
							io := ((ib*s.H+ih)*s.W + iw) * 8
							wo := (((ob*icb+ib)*s.KH+kh)*s.KW + kw) * 64
							for i := 0; i < 8; i++ {
								v := float64(a.In[io+i])
								for o := 0; o < 8; o++ {
									acc[o] += v * float64(a.Wt[wo+i*8+o])
								}
							}
						}
					}
				}
				for o := 0; o < 8; o++ {
					c := ob*8 + o
					v := acc[o]
					for _, st := range s.Epilogue {
						switch st.Kind {
						case Bias:
							v += float64(a.Bias[c])
						case Relu:
							v = math.Max(v, 0)
						case AddResidual:
							rs := max(st.ResStride, 1)
							v += float64(a.Res[((ob*rh+y*rs)*rw+x*rs)*8+o])
						case Store0:
							a.Out0[((ob*oh+y)*ow+x)*8+o] = float32(v)
						case Affine:
							v = v*float64(a.Scale[c]) + float64(a.Shift[c])
						case Store1:
							a.Out1[((ob*oh+y)*ow+x)*8+o] = float32(v)
						}
					}
				}
			}
		}
	}
}

// PackOIHW converts OIHW weights (oc, ic, kh, kw) into the kernel's weight
// layout for s: OIhw8i8o, or Ohwi8o when s.FirstNHWC. Padding channels are
// zero. (runtime.Pack produces the same layouts from HWIO.)
func PackOIHW(s *ConvSpec, w []float32) []float32 {
	out := make([]float32, s.Sizes().Wt)
	icb := s.ICB()
	for oc := 0; oc < s.OC; oc++ {
		for ic := 0; ic < s.IC; ic++ {
			for kh := 0; kh < s.KH; kh++ {
				for kw := 0; kw < s.KW; kw++ {
					v := w[((oc*s.IC+ic)*s.KH+kh)*s.KW+kw]
					var i int
					if s.FirstNHWC {
						i = ((((oc/8)*s.KH+kh)*s.KW+kw)*s.IC+ic)*8 + oc%8
					} else {
						i = (((((oc/8)*icb+ic/8)*s.KH+kh)*s.KW+kw)*8+ic%8)*8 + oc%8
					}
					out[i] = v
				}
			}
		}
	}
	return out
}
