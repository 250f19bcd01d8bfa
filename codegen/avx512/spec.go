package avx512

import (
	"errors"
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
)

// StepKind is one operation of a kernel epilogue.
type StepKind = conv.StepKind

// The epilogue steps. They are applied, in list order, to the fp32
// accumulator of every output element (oc, oh, ow) before and between the
// stores.
const (
	// Bias adds bias[oc].
	Bias = conv.Bias
	// Relu replaces x by max(x, 0).
	Relu = conv.Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (NCHW16c with
	// spatial size ConvSpec.ResH × ConvSpec.ResW).
	AddResidual = conv.AddResidual
	// Store stores x to out0 or out1 (Step.Out; NCHW16c, OH×OW).
	Store = conv.Store
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine = conv.Affine
	// Sigmoid replaces x by 1/(1+exp(−x)) (see conv.Sigmoid for the
	// accuracy).
	Sigmoid = conv.Sigmoid
	// Mul multiplies x by mul[oc, oh, ow] (NCHW16c, OH×OW).
	Mul = conv.Mul
	// Scale replaces x by x*Step.A + Step.B.
	Scale = conv.Scale
)

// Step is one epilogue step. ResStride (1 or 2) is used by AddResidual only;
// 0 means 1; A and B are Scale's constants.
type Step = conv.Step

// Steps is a convenience constructor: Steps(Bias, Relu, Store).
// AddResidual steps get ResStride 1; set it explicitly for stride 2.
func Steps(kinds ...StepKind) []Step { return conv.Steps(kinds...) }

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

	// Epilogue is the ordered list of steps. It must store to out0 once (a Store with Out 0).
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
	// Prefetch: 0 automatic (conv.Spec.PF: weight-streaming layers and
	// 1×1 convs of ≥ 128 KiB of weights on maps of ≤ 28×28), 1 on, -1 off.
	Prefetch int

	// Narrow: a grouped conv of Narrow-channel groups on one block
	// (conv.Spec.Narrow); 0 for a dense conv. It must stay the last field:
	// Key leaves it out of a dense kernel's key.
	Narrow int
}

// Key identifies the kernel s generates (%+v, the form kernels were named
// by before Narrow existed, which a dense spec keeps).
func (s ConvSpec) Key() string { return conv.Key("avx512", s, s.Narrow) }

// conv returns s as the shared spec with 16-channel blocks.
func (s *ConvSpec) conv() *conv.Spec {
	return &conv.Spec{Block: 16, IC: s.IC, OC: s.OC, H: s.H, W: s.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.PadT, PadB: s.PadB, PadL: s.PadL, PadR: s.PadR, FirstNHWC: s.FirstNHWC, ResH: s.ResH, ResW: s.ResW,
		Epilogue: s.Epilogue, NB: s.NB, URW: s.URW, ICC: s.ICC, Prefetch: s.Prefetch, Narrow: s.Narrow}
}

// OH returns the output height.
func (s *ConvSpec) OH() int { return s.conv().OH() }

// OW returns the output width.
func (s *ConvSpec) OW() int { return s.conv().OW() }

// ICB returns the number of 16-channel input blocks (1 for FirstNHWC).
func (s *ConvSpec) ICB() int { return s.conv().ICB() }

// OCB returns the number of 16-channel output blocks.
func (s *ConvSpec) OCB() int { return s.conv().OCB() }

// MACs returns the multiply-accumulate count of the layer (logical channels,
// padding taps excluded).
func (s *ConvSpec) MACs() int64 { return s.conv().MACs() }

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when the buffer is unused by the epilogue).
type Sizes = conv.Sizes

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes, including channel padding.
func (s *ConvSpec) Sizes() Sizes { return s.conv().Sizes() }

// Validate checks that the spec is supported.
func (s *ConvSpec) Validate() error {
	if err := s.conv().Validate("avx512"); err != nil {
		return err
	}
	if s.NB != 0 && s.OCB()%s.NB != 0 {
		return fmt.Errorf("avx512: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	}
	if s.NB < 0 || s.NB > 4 || s.URW < 0 || s.ICC < 0 {
		return errors.New("avx512: bad tiling override")
	}
	if s.Narrow != 0 && s.EmbedBcast {
		return errors.New("avx512: a narrow grouped conv shuffles its input lanes: no embedded broadcast")
	}
	return nil
}
