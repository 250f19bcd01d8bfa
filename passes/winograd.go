package passes

import (
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Winograd makes stride-1 undilated 3×3 convolutions on the AVX-512 target use
// Winograd F(4×4, 3×3): their kernels are transformed at load time into
// U = G g Gᵀ (the weight program's pack to "wino16"), and the generated
// kernel computes 4×4 output tiles with 36 small GEMMs instead of 144
// multiply-adds per output pixel and channel pair — 2.25× fewer FLOPs,
// at some precision (≈1e-5 relative on ResNet layers).
//
// The choice is by measured cost (codegen/winograd's benchmark, one Zen 5
// core, ResNet50V2 layers, weights cold): 3.0× the direct kernel at 56×56,
// 3.3× at 28×28, 2.3× at 14×14, but only 1.1× at 7×7, where U (4× the
// weights) streams from memory and the layer cannot be split over threads
// by channels. And by memory: U holds 36/9 = 4× the kernel's values, so
// ResNet50V2's 14×14 layers (256 channels) would add 42 MB of weights to
// the process for 1.4 ms per image (BENCHMARKS.md). So: output maps of at
// least 8×8 and U of at most limit bytes (DefaultWinogradLimit, 4 MiB: on
// ResNet50V2 the 56×56 and 28×28 layers; the weights grow by 6%).
// --disable winograd turns it off; a larger --winograd-limit trades memory
// for speed.
func Winograd(g *ir.Graph, t Target, limit int) error {
	if !t.Desc().Has(abi.Winograd) {
		return nil // the target has no Winograd kernels (AVX-512 only has)
	}
	if limit <= 0 {
		limit = DefaultWinogradLimit
	}
	for _, op := range g.Ops {
		if !winogradFits(op, limit) {
			continue
		}
		k := op.Param("kernel")
		op.Params["kernel"] = g.Weights.Compute(ir.WPack, []*ir.Weight{k.Args[0]}, 0, "wino16", nil)
	}
	g.Weights.RemoveUnused(g)
	return nil
}

func winogradFits(op *ir.Op, limit int) bool {
	a := op.Attrs
	if op.Kind != ir.Conv2D || a.Kernel != [2]int{3, 3} || a.Strides != [2]int{1, 1} || a.Dilated() || a.G() > 1 || max(a.Pad[0], a.Pad[1], a.Pad[2], a.Pad[3]) > 2 {
		return false
	}
	out := op.Out().Type
	if op.Inputs[0].Type.Layout != ir.NCHW16c || out.Layout != ir.NCHW16c || min(out.H(), out.W()) < 8 {
		return false
	}
	k := op.Param("kernel")
	if k == nil || k.Op != ir.WPack || k.Layout != "OIhw16i16o" {
		return false
	}
	u, err := ir.PackedShape("wino16", k.Args[0].Shape)
	return err == nil && 4*shapeElems(u) <= limit
}

// DefaultWinogradLimit bounds the Winograd weights of one layer, in bytes.
const DefaultWinogradLimit = 4 << 20

func shapeElems(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
