package avx512

import (
	"errors"
	"fmt"
)

// StepKind is one operation of a kernel epilogue.
type StepKind int

// The epilogue steps. They are applied, in list order, to the fp32
// accumulator of every output element (oc, oh, ow) before and between the
// stores.
const (
	// Bias adds bias[oc].
	Bias StepKind = iota
	// Relu replaces x by max(x, 0).
	Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (NCHW16c with
	// spatial size ConvSpec.ResH × ConvSpec.ResW).
	AddResidual
	// Store0 stores x to out0 (NCHW16c, OH×OW).
	Store0
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine
	// Store1 stores x to out1 (NCHW16c, OH×OW).
	Store1
)

func (k StepKind) String() string {
	switch k {
	case Bias:
		return "bias"
	case Relu:
		return "relu"
	case AddResidual:
		return "res"
	case Store0:
		return "store0"
	case Affine:
		return "affine"
	case Store1:
		return "store1"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one epilogue step. ResStride (1 or 2) is used by AddResidual only;
// 0 means 1.
type Step struct {
	Kind      StepKind
	ResStride int
}

func (s Step) String() string {
	if s.Kind == AddResidual && s.ResStride > 1 {
		return fmt.Sprintf("res/%d", s.ResStride)
	}
	return s.Kind.String()
}

// Steps is a convenience constructor: Steps(Bias, Relu, Store0).
// AddResidual steps get ResStride 1; set it explicitly for stride 2.
func Steps(kinds ...StepKind) []Step {
	s := make([]Step, len(kinds))
	for i, k := range kinds {
		s[i] = Step{Kind: k, ResStride: 1}
	}
	return s
}

// ConvSpec describes one convolution layer for one image (batch is looped by
// the caller: every pointer is per image).
type ConvSpec struct {
	IC, OC                 int // logical channel counts (padded to 16 in memory)
	H, W                   int // input spatial size
	KH, KW                 int // kernel size
	SH, SW                 int // strides (1 or 2)
	PadT, PadB, PadL, PadR int // explicit zero padding

	// FirstNHWC: the input is NHWC with IC channels (not blocked, IC ≤ 16)
	// and the weights are Ohwi16o. Otherwise input is NCHW16c and weights
	// OIhw16i16o.
	FirstNHWC bool

	// ResH, ResW: spatial size of the residual tensor, needed when the
	// epilogue has AddResidual. 0 means OH*rs, OW*rs.
	ResH, ResW int

	// Epilogue is the ordered list of steps. It must contain Store0.
	Epilogue []Step

	// Tiling overrides (0 = automatic, see ChooseTiling): number of 16-wide
	// output-channel blocks and output pixels per register tile.
	NB, URW int
	// EmbedBcast (if true) folds the input broadcast into the FMA
	// ({1to16} memory operand) instead of VBROADCASTSS into a register; it
	// frees the broadcast registers so NB*URW may reach 28 with NB=4.
	EmbedBcast bool
	// ICC overrides the reduction chunk (input-channel blocks per chunk,
	// see Tiling.ICC); 0 = automatic, ≥ ICB = no chunking.
	ICC int
	// Prefetch: 0 automatic (on when the weights are ≥ 1 MiB), 1 on, -1 off.
	Prefetch int
}

// OH returns the output height.
func (s *ConvSpec) OH() int { return (s.H+s.PadT+s.PadB-s.KH)/s.SH + 1 }

// OW returns the output width.
func (s *ConvSpec) OW() int { return (s.W+s.PadL+s.PadR-s.KW)/s.SW + 1 }

// ICB returns the number of 16-channel input blocks (1 for FirstNHWC).
func (s *ConvSpec) ICB() int {
	if s.FirstNHWC {
		return 1
	}
	return (s.IC + 15) / 16
}

// OCB returns the number of 16-channel output blocks.
func (s *ConvSpec) OCB() int { return (s.OC + 15) / 16 }

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

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when the buffer is unused by the epilogue).
type Sizes struct {
	In, Wt, Bias, Res, Scale, Shift, Out0, Out1 int
}

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes, including channel padding.
func (s *ConvSpec) Sizes() Sizes {
	var z Sizes
	ocp := s.OCB() * 16
	if s.FirstNHWC {
		z.In = s.H * s.W * s.IC
		z.Wt = ocp * s.KH * s.KW * s.IC
	} else {
		z.In = s.ICB() * 16 * s.H * s.W
		z.Wt = ocp * s.ICB() * 16 * s.KH * s.KW
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
		return errors.New("avx512: non-positive size")
	case s.KH <= 0 || s.KW <= 0:
		return errors.New("avx512: non-positive kernel size")
	case s.SH < 1 || s.SH > 2 || s.SW < 1 || s.SW > 2:
		return errors.New("avx512: strides must be 1 or 2")
	case s.PadT < 0 || s.PadB < 0 || s.PadL < 0 || s.PadR < 0:
		return errors.New("avx512: negative padding")
	case s.PadT >= s.KH || s.PadB >= s.KH || s.PadL >= s.KW || s.PadR >= s.KW:
		return errors.New("avx512: padding must be smaller than the kernel")
	case s.OH() <= 0 || s.OW() <= 0:
		return errors.New("avx512: empty output")
	case s.FirstNHWC && s.IC > 16:
		return errors.New("avx512: FirstNHWC needs IC ≤ 16")
	}
	nres, n0, n1 := 0, 0, 0
	for _, st := range s.Epilogue {
		switch st.Kind {
		case AddResidual:
			nres++
			if st.ResStride != 0 && st.ResStride != 1 && st.ResStride != 2 {
				return errors.New("avx512: residual stride must be 1 or 2")
			}
		case Store0:
			n0++
		case Store1:
			n1++
		case Bias, Relu, Affine:
		default:
			return fmt.Errorf("avx512: unknown epilogue step %v", st.Kind)
		}
	}
	if n0 != 1 || n1 > 1 || nres > 1 {
		return errors.New("avx512: epilogue needs exactly one Store0, at most one Store1 and one AddResidual")
	}
	if nres == 1 {
		rh, rw, rs := s.resDims()
		if (s.OH()-1)*rs >= rh || (s.OW()-1)*rs >= rw {
			return errors.New("avx512: residual tensor too small")
		}
	}
	if s.NB != 0 && s.OCB()%s.NB != 0 {
		return fmt.Errorf("avx512: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	}
	if s.NB < 0 || s.NB > 4 || s.URW < 0 || s.ICC < 0 {
		return errors.New("avx512: bad tiling override")
	}
	return nil
}
