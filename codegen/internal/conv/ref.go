package conv

import "math"

// Args holds the per-image buffers of one kernel call. Unused buffers may be
// nil.
type Args struct {
	In, Wt, Bias, Res, Mul, Scale, Shift, Out0, Out1 []float32
}

// maxBlock is the widest channel block RefConv handles.
const maxBlock = 16

// RefConv is the pure-Go twin of a generated kernel: it computes output
// rows [oh0, oh1) of output-channel blocks [ocb0, ocb1) of one image with
// exactly the semantics of the kernel generated from s (all lanes of every
// block are written, including channel-padding lanes). It accumulates in
// float64.
func RefConv(s *Spec, a Args, ocb0, ocb1, oh0, oh1 int) {
	b := s.Block
	ow := s.OW()
	oh := s.OH()
	icb := s.ICB()
	rh, rw, _ := s.ResDims()
	for ob := ocb0; ob < ocb1; ob++ {
		for y := oh0; y < oh1; y++ {
			for x := 0; x < ow; x++ {
				var accs [maxBlock]float64
				acc := accs[:b]
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
								wo := (((ob*s.KH+kh)*s.KW+kw)*s.IC + c) * b
								for o := range acc {
									acc[o] += v * float64(a.Wt[wo+o])
								}
							}
							continue
						}
						if s.Narrow > 0 { // lane o reads its group's lanes of block ob
							io := ((ob*s.H+ih)*s.W + iw) * b
							for k := 0; k < s.Narrow; k++ {
								wo := ((((ob*s.KH+kh)*s.KW+kw)*s.Narrow + k) * b)
								for o := range acc {
									acc[o] += float64(a.In[io+o/s.Narrow*s.Narrow+k]) * float64(a.Wt[wo+o])
								}
							}
							continue
						}
						for ib := 0; ib < icb; ib++ {
							io := ((ib*s.H+ih)*s.W + iw) * b
							wo := (((ob*icb+ib)*s.KH+kh)*s.KW + kw) * b * b
							for i := 0; i < b; i++ {
								v := float64(a.In[io+i])
								for o := range acc {
									acc[o] += v * float64(a.Wt[wo+i*b+o])
								}
							}
						}
					}
				}
				for o := range acc {
					c := ob*b + o
					v := acc[o]
					for _, st := range s.Epilogue {
						switch st.Kind {
						case Bias:
							v += float64(a.Bias[c])
						case Relu:
							v = math.Max(v, 0)
						case AddResidual:
							rs := max(st.ResStride, 1)
							v += float64(a.Res[((ob*rh+y*rs)*rw+x*rs)*b+o])
						case Store:
							out := a.Out0
							if st.Out == 1 {
								out = a.Out1
							}
							out[((ob*oh+y)*ow+x)*b+o] = float32(v)
						case Affine:
							v = v*float64(a.Scale[c]) + float64(a.Shift[c])
						default:
							v = EpiStep(st, v, a.Mul, ((ob*oh+y)*ow+x)*b+o)
						}
					}
				}
			}
		}
	}
}

// PackOIHW converts OIHW weights (oc, ic, kh, kw) into the kernel's weight
// layout for s: OIhw{B}i{B}o, or Ohwi{B}o when s.FirstNHWC or s.Narrow
// (B = s.Block; a narrow conv's weights are PyTorch's grouped (oc,
// Narrow, kh, kw)). Padding channels are zero.
func PackOIHW(s *Spec, w []float32) []float32 {
	b := s.Block
	out := make([]float32, s.Sizes().Wt)
	icb := s.ICB()
	n := s.IC // input channels per output channel
	if s.Narrow > 0 {
		n = s.Narrow
	}
	for oc := 0; oc < s.OC; oc++ {
		for ic := 0; ic < n; ic++ {
			for kh := 0; kh < s.KH; kh++ {
				for kw := 0; kw < s.KW; kw++ {
					v := w[((oc*n+ic)*s.KH+kh)*s.KW+kw]
					var i int
					if s.FirstNHWC || s.Narrow > 0 {
						i = ((((oc/b)*s.KH+kh)*s.KW+kw)*n+ic)*b + oc%b
					} else {
						i = (((((oc/b)*icb+ic/b)*s.KH+kh)*s.KW+kw)*b+ic%b)*b + oc%b
					}
					out[i] = v
				}
			}
		}
	}
	return out
}

// EpiStep applies a Sigmoid, Mul or Scale step to v in float64 (Mul reads
// mul[i], i the output element's index); other steps leave v unchanged.
func EpiStep(st Step, v float64, mul []float32, i int) float64 {
	switch st.Kind {
	case Sigmoid:
		return 1 / (1 + math.Exp(-v))
	case Mul:
		return v * float64(mul[i])
	case Scale:
		return v*float64(st.A) + float64(st.B)
	}
	return v
}
