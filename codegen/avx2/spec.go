package avx2

import (
	"errors"
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
)

// StepKind is one operation of a kernel epilogue. It is conv.StepKind, as
// in package avx512: the steps mean the same for both generators (only the
// block width of the tensors they touch differs), so one epilogue list
// serves both.
type StepKind = conv.StepKind

// The epilogue steps, applied in list order to the fp32 accumulator of
// every output element (oc, oh, ow) before and between the stores.
const (
	// Bias adds bias[oc].
	Bias = conv.Bias
	// Relu replaces x by max(x, 0).
	Relu = conv.Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (NCHW8c with
	// spatial size ConvSpec.ResH × ConvSpec.ResW).
	AddResidual = conv.AddResidual
	// Store stores x to out0 or out1 (Step.Out; NCHW8c, OH×OW).
	Store = conv.Store
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine = conv.Affine
	// Sigmoid replaces x by 1/(1+exp(−x)).
	Sigmoid = conv.Sigmoid
	// Mul multiplies x by mul[oc, oh, ow] (NCHW8c, OH×OW).
	Mul = conv.Mul
	// Scale replaces x by x*Step.A + Step.B.
	Scale = conv.Scale
)

// Step is one epilogue step (conv.Step, as in package avx512). ResStride
// (1 or 2) is used by AddResidual only; 0 means 1; A and B are Scale's
// constants.
type Step = conv.Step

// Steps is a convenience constructor: Steps(Bias, Relu, Store).
// AddResidual steps get ResStride 1; set it explicitly for stride 2.
func Steps(kinds ...StepKind) []Step { return conv.Steps(kinds...) }

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when the buffer is unused by the epilogue). It is conv.Sizes,
// as avx512.Sizes; the counts here are for the 8-blocked layouts.
type Sizes = conv.Sizes

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

	// Epilogue is the ordered list of steps. It must store to out0 once (a Store with Out 0).
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
	// Prefetch: 0 automatic (conv.Spec.PF), 1 on, -1 off: software
	// prefetch (PREFETCHT1, one per 64-byte line) of the next group's or
	// chunk's weights, walked by R15.
	Prefetch int

	// Narrow: a grouped conv of Narrow-channel groups on one block
	// (conv.Spec.Narrow); 0 for a dense conv. It must stay the last field:
	// Key leaves it out of a dense kernel's key.
	Narrow int
}

// Key identifies the kernel s generates (%+v, the form kernels were named
// by before Narrow existed, which a dense spec keeps).
func (s ConvSpec) Key() string { return conv.Key("avx2", s, s.Narrow) }

// conv returns s as the shared spec with 8-channel blocks.
func (s *ConvSpec) conv() *conv.Spec {
	return &conv.Spec{Block: 8, IC: s.IC, OC: s.OC, H: s.H, W: s.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.PadT, PadB: s.PadB, PadL: s.PadL, PadR: s.PadR, FirstNHWC: s.FirstNHWC, ResH: s.ResH, ResW: s.ResW,
		Epilogue: s.Epilogue, NB: s.NB, URW: s.URW, ICC: s.ICC, Prefetch: s.Prefetch, Narrow: s.Narrow}
}

// OH returns the output height.
func (s *ConvSpec) OH() int { return s.conv().OH() }

// OW returns the output width.
func (s *ConvSpec) OW() int { return s.conv().OW() }

// ICB returns the number of 8-channel input blocks (1 for FirstNHWC).
func (s *ConvSpec) ICB() int { return s.conv().ICB() }

// OCB returns the number of 8-channel output blocks.
func (s *ConvSpec) OCB() int { return s.conv().OCB() }

// MACs returns the multiply-accumulate count of the layer (logical channels,
// padding taps excluded).
func (s *ConvSpec) MACs() int64 { return s.conv().MACs() }

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes, including channel padding.
func (s *ConvSpec) Sizes() Sizes { return s.conv().Sizes() }

// Validate checks that the spec is supported.
func (s *ConvSpec) Validate() error {
	if err := s.conv().Validate("avx2"); err != nil {
		return err
	}
	if s.NB < 0 || s.NB > 4 || s.URW < 0 || s.ICC < 0 || s.WMem < 0 || s.WMem > 4 {
		return errors.New("avx2: bad tiling override")
	}
	if s.NB != 0 && s.OCB()%s.NB != 0 {
		return fmt.Errorf("avx2: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	}
	if s.NB != 0 && s.URW != 0 && s.NB*min(s.URW, s.OW()) > accLimit(s) {
		return fmt.Errorf("avx2: NB×URW = %d×%d exceeds %d accumulators", s.NB, s.URW, accLimit(s))
	}
	return nil
}
