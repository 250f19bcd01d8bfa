package conv

import (
	"errors"
	"fmt"
	"strings"
)

// Spec describes one convolution layer for one image (batch is looped by
// the caller) with channel blocks of Block lanes: the fields avx512.ConvSpec
// (Block 16) and avx2.ConvSpec (Block 8) have in common.
//
// Those two stay types of their own, not aliases of Spec: they have no
// Block field, and each has a tiling override the other lacks (EmbedBcast,
// WMem), and codegen names a kernel by the SHA-256 of its spec's %+v form,
// so their fields (names, order, types) must not change. Each converts
// itself with a conv method.
type Spec struct {
	Block                  int // channels per block (16 or 8)
	IC, OC                 int // logical channel counts (padded to Block in memory)
	H, W                   int // input spatial size
	KH, KW                 int // kernel size
	SH, SW                 int // strides (1 or 2)
	PadT, PadB, PadL, PadR int // explicit zero padding

	// FirstNHWC: the input is NHWC with IC ≤ Block channels (not blocked)
	// and the weights are Ohwi{Block}o. Otherwise input is NCHW{Block}c and
	// weights OIhw{Block}i{Block}o.
	FirstNHWC bool

	// ResH, ResW: spatial size of the residual tensor, needed when the
	// epilogue has AddResidual. 0 means OH*rs, OW*rs.
	ResH, ResW int

	// Epilogue is the ordered list of steps. It must contain Store→out0.
	Epilogue []Step

	// Tiling overrides (0 = automatic): output-channel blocks and output
	// pixels per register tile, input-channel blocks per reduction chunk
	// (≥ ICB = no chunking), software prefetch (1 on, -1 off).
	NB, URW, ICC, Prefetch int

	// Narrow (0: a dense conv) is a grouped conv whose groups have Narrow
	// input and Narrow output channels (NarrowOK: ResNeXt's 4- and
	// 8-channel groups; 1 is depthwise), on one channel block (IC = OC =
	// Block): output lane o reads input lanes ⌊o/Narrow⌋·Narrow … +
	// Narrow−1 of the same block, with weights Ohwi{Block}o of the grouped
	// kernel ([kh][kw][Narrow][Block o]). The kernels broadcast input lane
	// ⌊o/Narrow⌋·Narrow + k into every lane o with one shuffle (VPERMILPS
	// within 4 lanes, VPERMPS with an index vector for 8), Narrow
	// multiply-adds per tap where the block-diagonal dense kernel takes
	// Block.
	Narrow int
}

// Key names the kernel of a generator's spec s (its %+v form after the
// generator's name), a spec whose last field is Narrow: a dense spec keeps
// the key it had before Narrow existed (the field left out), so that dense
// kernels keep their names and generated code its bytes.
func Key(generator string, s any, narrow int) string {
	k := fmt.Sprintf("%+v", s)
	if narrow == 0 {
		k = strings.TrimSuffix(k, " Narrow:0}") + "}"
	}
	return generator + " " + k
}

// NarrowOK reports whether n is a group width the narrow kernels take on
// blocks of b lanes: 1, 2 or 4 (an in-lane shuffle), or 8 on 16-lane
// blocks (a cross-lane one); a group as wide as the block is a dense conv.
func NarrowOK(n, b int) bool { return n == 1 || n == 2 || n == 4 || n == 8 && b == 16 }

// OH returns the output height.
func (s *Spec) OH() int { return (s.H+s.PadT+s.PadB-s.KH)/s.SH + 1 }

// OW returns the output width.
func (s *Spec) OW() int { return (s.W+s.PadL+s.PadR-s.KW)/s.SW + 1 }

// ICB returns the number of input channel blocks (1 for FirstNHWC).
func (s *Spec) ICB() int {
	if s.FirstNHWC {
		return 1
	}
	return (s.IC + s.Block - 1) / s.Block
}

// OCB returns the number of output channel blocks.
func (s *Spec) OCB() int { return (s.OC + s.Block - 1) / s.Block }

// MACs returns the multiply-accumulate count of the layer (logical channels,
// padding taps excluded).
func (s *Spec) MACs() int64 {
	// A tap is inside the image iff its row and its column are: the count
	// is (valid (oh, kh) pairs) × (valid (ow, kw) pairs).
	rows := Taps(s.OH(), s.SH, s.PadT, s.KH, 1, s.H)
	cols := Taps(s.OW(), s.SW, s.PadL, s.KW, 1, s.W)
	if s.Narrow > 0 {
		return int64(rows) * int64(cols) * int64(s.Narrow) * int64(s.OC)
	}
	return int64(rows) * int64(cols) * int64(s.IC) * int64(s.OC)
}

// Taps counts the (output, kernel) index pairs of one dimension whose input
// index o*stride - pad + k*dil lies in [0, in) (dil is the dilation, 1 for
// none).
func Taps(out, stride, pad, k, dil, in int) int {
	n := 0
	for o := 0; o < out; o++ {
		for j := 0; j < k; j++ {
			if i := o*stride - pad + j*dil; i >= 0 && i < in {
				n++
			}
		}
	}
	return n
}

// ResDims returns the residual tensor's spatial size and stride.
func (s *Spec) ResDims() (rh, rw, rs int) { return ResDims(s.Epilogue, s.ResH, s.ResW, s.OH(), s.OW()) }

// Has reports whether the epilogue has a step of kind k.
func (s *Spec) Has(k StepKind) bool { return Has(s.Epilogue, k) }

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when the buffer is unused by the epilogue).
type Sizes struct {
	In, Wt, Bias, Res, Mul, Scale, Shift, Out0, Out1 int
}

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes, including channel padding.
func (s *Spec) Sizes() Sizes {
	var z Sizes
	ocp := s.OCB() * s.Block
	switch {
	case s.FirstNHWC:
		z.In = s.H * s.W * s.IC
		z.Wt = ocp * s.KH * s.KW * s.IC
	case s.Narrow > 0:
		z.In = s.ICB() * s.Block * s.H * s.W
		z.Wt = ocp * s.KH * s.KW * s.Narrow
	default:
		z.In = s.ICB() * s.Block * s.H * s.W
		z.Wt = ocp * s.ICB() * s.Block * s.KH * s.KW
	}
	out := ocp * s.OH() * s.OW()
	for _, st := range s.Epilogue {
		switch st.Kind {
		case Bias:
			z.Bias = ocp
		case AddResidual:
			rh, rw, _ := s.ResDims()
			z.Res = ocp * rh * rw
		case Mul:
			z.Mul = out
		case Affine:
			z.Scale, z.Shift = ocp, ocp
		case Store:
			if st.Out == 0 {
				z.Out0 = out
			} else {
				z.Out1 = out
			}
		}
	}
	return z
}

// Validate checks the geometry and the epilogue (not the tiling
// overrides); errors start with pkg.
func (s *Spec) Validate(pkg string) error {
	e := func(msg string) error { return errors.New(pkg + ": " + msg) }
	switch {
	case s.IC <= 0 || s.OC <= 0 || s.H <= 0 || s.W <= 0:
		return e("non-positive size")
	case s.KH <= 0 || s.KW <= 0:
		return e("non-positive kernel size")
	case s.SH < 1 || s.SH > 2 || s.SW < 1 || s.SW > 2:
		return e("strides must be 1 or 2")
	case s.PadT < 0 || s.PadB < 0 || s.PadL < 0 || s.PadR < 0:
		return e("negative padding")
	case s.PadT >= s.KH || s.PadB >= s.KH || s.PadL >= s.KW || s.PadR >= s.KW:
		return e("padding must be smaller than the kernel")
	case s.OH() <= 0 || s.OW() <= 0:
		return e("empty output")
	case s.FirstNHWC && s.IC > s.Block:
		return e(fmt.Sprintf("FirstNHWC needs IC ≤ %d", s.Block))
	case s.Narrow != 0 && (!NarrowOK(s.Narrow, s.Block) || s.Block%s.Narrow != 0 || s.FirstNHWC || s.IC != s.Block || s.OC != s.Block):
		return e(fmt.Sprintf("a narrow grouped conv needs groups of 1, 2, 4 (or 8 of 16) channels on one blocked %d-channel block, not Narrow %d, IC %d, OC %d, FirstNHWC %v", s.Block, s.Narrow, s.IC, s.OC, s.FirstNHWC))
	}
	nres, nmul, n0, n1 := 0, 0, 0, 0
	for _, st := range s.Epilogue {
		switch st.Kind {
		case AddResidual:
			nres++
			if st.ResStride != 0 && st.ResStride != 1 && st.ResStride != 2 {
				return e("residual stride must be 1 or 2")
			}
		case Store:
			switch st.Out {
			case 0:
				n0++
			case 1:
				n1++
			default:
				return e(fmt.Sprintf("a store to output %d (the kernels have out0 and out1)", st.Out))
			}
		case Mul:
			nmul++
		case Bias, Relu, Affine, Sigmoid, Scale:
		default:
			return e(fmt.Sprintf("unknown epilogue step %v", st.Kind))
		}
	}
	if n0 != 1 || n1 > 1 || nres > 1 || nmul > 1 {
		return e("epilogue needs exactly one store to out0, at most one to out1, one AddResidual and one Mul")
	}
	if nres == 1 {
		rh, rw, rs := s.ResDims()
		if (s.OH()-1)*rs >= rh || (s.OW()-1)*rs >= rw {
			return e("residual tensor too small")
		}
	}
	return nil
}

// Cache budgets of the reduction-chunk rule.
const (
	groupWeightsL2 = 256 << 10 // weights of one oc-block group kept in L2 across rows
	chunkWeights   = 40 << 10  // weights of one chunk (L1-sized)
	partialBytes   = 64 << 10  // partial sums of one group (all rows) kept in L1/L2
	streamWeights  = 1 << 20   // see Streaming
	streamPerPixel = 10 << 10
)

// Streaming reports whether s is a weight-streaming layer: at batch 1 its
// weights come from DRAM (in a network run) and are large (≥ 1 MiB) and
// large per output pixel (≥ 10 KiB: each weight feeds ≤ ~100 FMAs), so the
// weight stream, not the FMA pipes, can be the bound. Such layers use the
// chunked order with one input block per chunk and software prefetch of
// the next chunk. (ResNet50V2: the 3×3 layers at 7×7 and the 3×3 256 at
// 14×14.)
//
// A 1×1 conv never streams: one input block of its weights is a single
// tap, so a chunk of one block re-reads and re-writes the partial sums
// once per input block for little weight locality. Measured on Zen 4
// (2026-12-03, weights from DRAM): unchunked 1×1 layers of 1–8 MiB at
// 7×7 and 14×14 (ResNeXt's and ResNet's last two stages, ResNet50V2's
// shortcuts) are 10–25% faster than chunked; the 3×3 ones 20–30% slower.
// They keep the prefetch (PF).
func (s *Spec) Streaming() bool {
	w := s.Sizes().Wt * 4
	return s.KH*s.KW > 1 && w >= streamWeights && w >= streamPerPixel*s.OH()*s.OW()
}

// ChooseICC returns the reduction chunk (input-channel blocks per chunk)
// for groups of nb output blocks: the ICC override if set; streaming
// layers: 1. Others: no chunking (ICB) unless the group's weights exceed
// groupWeightsL2 and its partial sums over all rows fit partialBytes; then
// the largest chunk whose weights fit chunkWeights (at least one block).
func (s *Spec) ChooseICC(nb int) int {
	icb := s.ICB()
	if s.ICC != 0 {
		return min(s.ICC, icb)
	}
	perIcb := nb * s.KH * s.KW * s.Block * s.Block * 4
	if s.Streaming() {
		return 1
	}
	if icb == 1 || perIcb*icb <= groupWeightsL2 || s.OH()*s.OW()*nb*s.Block*4 > partialBytes {
		return icb
	}
	return max(1, min(icb, chunkWeights/perIcb))
}

// PF reports whether the kernel prefetches weights: the Prefetch override,
// else for streaming layers and for 1×1 convs of ≥ 128 KiB of weights on
// maps of ≤ 28×28 pixels (where the next group's weights, fetched from
// DRAM at batch 1, would otherwise stall its first row; measured 4–10%
// faster with weights from DRAM). Larger maps lose: the prefetched group
// competes in L2 with the current group and the input.
func (s *Spec) PF() bool {
	if s.Prefetch != 0 {
		return s.Prefetch > 0
	}
	return s.Streaming() || (s.KH*s.KW == 1 && s.Sizes().Wt*4 >= 128<<10 && s.OH()*s.OW() <= 28*28)
}
