package direct

import (
	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
)

// A Request is a direct convolution a target's generator is asked for:
// the geometry of a plan step and its epilogue, already checked against
// the family's capability table (abi.ConvCaps) and translated to kernel
// steps.
type Request struct {
	IC, OC, H, W, KH, KW, SH, SW int
	PadT, PadB, PadL, PadR       int
	FirstNHWC                    bool // the input is NHWC (IC ≤ the block), not blocked
	ResH, ResW                   int  // the residual's size (0: none, or OH×OW at its stride)
	Epilogue                     []conv.Step
	// InPlace: an output overwrites an epilogue operand, so the kernel
	// must reduce over all input channels in one pass (a chunked reduction
	// would keep partial sums in the output).
	InPlace bool
	// Narrow: a grouped conv of Narrow-channel groups on one block
	// (conv.Spec.Narrow: weights Ohwi of the grouped kernel); 0: dense.
	Narrow int
}

// A Kernel is a generator's answer to a Request.
type Kernel struct {
	// Key identifies the kernel: requests with equal keys share one.
	Key string
	// Emit generates it into ctx as the function name.
	Emit func(ctx *build.Context, name string) error
	// NB is the register tile's output-channel blocks: the unit a step
	// is split into tasks by.
	NB int
}

// A Generator is a target's direct-convolution generator (avx512.Direct,
// avx2.Direct): ok is false when it takes no kernel for the request, and
// the step runs the portable Go code.
type Generator func(r Request) (k Kernel, ok bool)
