package avx2

import "github.com/rnc-dev/rnc/codegen/internal/conv"

// Args holds the per-image buffers of one kernel call (conv.Args, as
// avx512.Args). Unused buffers may be nil. Layouts are described in the
// package documentation.
type Args = conv.Args

// RefConv is the pure-Go twin of a generated kernel: it computes output
// rows [oh0, oh1) of output-channel blocks [ocb0, ocb1) of one image with
// exactly the semantics of the kernel generated from s (all 8 lanes of
// every block are written, including channel-padding lanes). It
// accumulates in float64.
func RefConv(s *ConvSpec, a Args, ocb0, ocb1, oh0, oh1 int) {
	conv.RefConv(s.conv(), a, ocb0, ocb1, oh0, oh1)
}

// PackOIHW converts OIHW weights (oc, ic, kh, kw) into the kernel's weight
// layout for s: OIhw8i8o, or Ohwi8o when s.FirstNHWC. Padding channels are
// zero. (runtime.Pack produces the same layouts from HWIO.)
func PackOIHW(s *ConvSpec, w []float32) []float32 { return conv.PackOIHW(s.conv(), w) }
