package avx2

import (
	"errors"
	"fmt"

	"github.com/rnc-dev/rnc/codegen/avx512"
)

// StepKind is one operation of a kernel epilogue. It is avx512's type: the
// steps mean the same for both generators (only the block width of the
// tensors they touch differs), so one epilogue list serves both.
type StepKind = avx512.StepKind

// The epilogue steps, applied in list order to the fp32 accumulator of
// every output element (oc, oh, ow) before and between the stores.
const (
	// Bias adds bias[oc].
	Bias = avx512.Bias
	// Relu replaces x by max(x, 0).
	Relu = avx512.Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (NCHW8c with
	// spatial size ConvSpec.ResH × ConvSpec.ResW).
	AddResidual = avx512.AddResidual
	// Store0 stores x to out0 (NCHW8c, OH×OW).
	Store0 = avx512.Store0
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine = avx512.Affine
	// Store1 stores x to out1 (NCHW8c, OH×OW).
	Store1 = avx512.Store1
)

// Step is one epilogue step (avx512's type). ResStride (1 or 2) is used by
// AddResidual only; 0 means 1.
type Step = avx512.Step

// Steps is a convenience constructor: Steps(Bias, Relu, Store0).
// AddResidual steps get ResStride 1; set it explicitly for stride 2.
func Steps(kinds ...StepKind) []Step { return avx512.Steps(kinds...) }

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when the buffer is unused by the epilogue). Same type as
// avx512.Sizes; the counts here are for the 8-blocked layouts.
type Sizes = avx512.Sizes

// ConvSpec describes one convolution layer for one image (batch is looped by
// the caller: every pointer is per image). The fields mean what they mean
// in avx512.ConvSpec with 8-wide channel blocks instead of 16-wide ones;
// avx512's EmbedBcast has no AVX2 counterpart (there is no embedded
// broadcast without EVEX), WMem takes its place as a tiling override.
type ConvSpec struct {
	IC, OC                 int // logical channel counts (padded to 8 in memory)
	H, W                   int // input spatial size
	KH, KW                 int // kernel size
	SH, SW                 int // strides (1 or 2)
	PadT, PadB, PadL, PadR int // explicit zero padding

	// FirstNHWC: the input is NHWC with IC channels (not blocked, IC ≤ 8)
	// and the weights are Ohwi8o. Otherwise input is NCHW8c and weights
	// OIhw8i8o.
	FirstNHWC bool

	// ResH, ResW: spatial size of the residual tensor, needed when the
	// epilogue has AddResidual. 0 means OH*rs, OW*rs.
	ResH, ResW int

	// Epilogue is the ordered list of steps. It must contain Store0.
	Epilogue []Step

	// Tiling overrides (0 = automatic, see ChooseTiling): number of 8-wide
	// output-channel blocks and output pixels per register tile.
	NB, URW int
	// WMem overrides how many of the NB weight vectors of a lane step are
	// read by the FMAs as memory operands instead of being loaded into a
	// register once (Tiling.WR = NB − WMem): 0 = automatic (as few as the
	// register file allows), > 0 that many (at least the automatic count).
	WMem int
	// ICC overrides the reduction chunk (input-channel blocks per chunk,
	// see Tiling.ICC); 0 = automatic, ≥ ICB = no chunking.
	ICC int
	// Prefetch: 0 automatic (on for weight-streaming layers), 1 on, -1 off.
	Prefetch int
}

// OH returns the output height.
func (s *ConvSpec) OH() int { return (s.H+s.PadT+s.PadB-s.KH)/s.SH + 1 }

// OW returns the output width.
func (s *ConvSpec) OW() int { return (s.W+s.PadL+s.PadR-s.KW)/s.SW + 1 }

// ICB returns the number of 8-channel input blocks (1 for FirstNHWC).
func (s *ConvSpec) ICB() int {
	if s.FirstNHWC {
		return 1
	}
	return (s.IC + 7) / 8
}

// OCB returns the number of 8-channel output blocks.
func (s *ConvSpec) OCB() int { return (s.OC + 7) / 8 }

// MACs returns the multiply-accumulate count of the layer (logical channels,
// padding taps excluded).
func (s *ConvSpec) MACs() int64 {
	var n int64
	oh, ow := s.OH(), s.OW()
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
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
					n++
				}
			}
		}
	}
	return n * int64(s.IC) * int64(s.OC)
}

// resDims returns the residual tensor's spatial size and stride.
func (s *ConvSpec) resDims() (rh, rw, rs int) {
	rs = 1
	for _, st := range s.Epilogue {
		if st.Kind == AddResidual && st.ResStride > 1 {
			rs = st.ResStride
		}
	}
	rh, rw = s.ResH, s.ResW
	if rh == 0 {
		rh = s.OH() * rs
	}
	if rw == 0 {
		rw = s.OW() * rs
	}
	return
}

func (s *ConvSpec) has(k StepKind) bool {
	for _, st := range s.Epilogue {
		if st.Kind == k {
			return true
		}
	}
	return false
}

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes, including channel padding.
func (s *ConvSpec) Sizes() Sizes {
	var z Sizes
	ocp := s.OCB() * 8
	if s.FirstNHWC {
		z.In = s.H * s.W * s.IC
		z.Wt = ocp * s.KH * s.KW * s.IC
	} else {
		z.In = s.ICB() * 8 * s.H * s.W
		z.Wt = ocp * s.ICB() * 8 * s.KH * s.KW
	}
	out := ocp * s.OH() * s.OW()
	for _, st := range s.Epilogue {
		switch st.Kind {
		case Bias:
			z.Bias = ocp
		case AddResidual:
			rh, rw, _ := s.resDims()
			z.Res = ocp * rh * rw
		case Affine:
			z.Scale, z.Shift = ocp, ocp
		case Store0:
			z.Out0 = out
		case Store1:
			z.Out1 = out
		}
	}
	return z
}

// Validate checks that the spec is supported.
func (s *ConvSpec) Validate() error {
	switch {
	case s.IC <= 0 || s.OC <= 0 || s.H <= 0 || s.W <= 0:
		return errors.New("avx2: non-positive size")
	case s.KH <= 0 || s.KW <= 0:
		return errors.New("avx2: non-positive kernel size")
	case s.SH < 1 || s.SH > 2 || s.SW < 1 || s.SW > 2:
		return errors.New("avx2: strides must be 1 or 2")
	case s.PadT < 0 || s.PadB < 0 || s.PadL < 0 || s.PadR < 0:
		return errors.New("avx2: negative padding")
	case s.PadT >= s.KH || s.PadB >= s.KH || s.PadL >= s.KW || s.PadR >= s.KW:
		return errors.New("avx2: padding must be smaller than the kernel")
	case s.OH() <= 0 || s.OW() <= 0:
		return errors.New("avx2: empty output")
	case s.FirstNHWC && s.IC > 8:
		return errors.New("avx2: FirstNHWC needs IC ≤ 8")
	}
	nres, n0, n1 := 0, 0, 0
	for _, st := range s.Epilogue {
		switch st.Kind {
		case AddResidual:
			nres++
			if st.ResStride != 0 && st.ResStride != 1 && st.ResStride != 2 {
				return errors.New("avx2: residual stride must be 1 or 2")
			}
		case Store0:
			n0++
		case Store1:
			n1++
		case Bias, Relu, Affine:
		default:
			return fmt.Errorf("avx2: unknown epilogue step %v", st.Kind)
		}
	}
	if n0 != 1 || n1 > 1 || nres > 1 {
		return errors.New("avx2: epilogue needs exactly one Store0, at most one Store1 and one AddResidual")
	}
	if nres == 1 {
		rh, rw, rs := s.resDims()
		if (s.OH()-1)*rs >= rh || (s.OW()-1)*rs >= rw {
			return errors.New("avx2: residual tensor too small")
		}
	}
	if s.NB < 0 || s.NB > 4 || s.URW < 0 || s.ICC < 0 || s.WMem < 0 || s.WMem > 4 {
		return errors.New("avx2: bad tiling override")
	}
	if s.NB != 0 && s.OCB()%s.NB != 0 {
		return fmt.Errorf("avx2: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	}
	if s.NB != 0 && s.URW != 0 && s.NB*min(s.URW, s.OW()) > maxAcc {
		return fmt.Errorf("avx2: NB×URW = %d×%d exceeds %d accumulators", s.NB, s.URW, maxAcc)
	}
	return nil
}
