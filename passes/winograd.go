package passes

import (
	"github.com/rnc-dev/rnc/ir"
)

// Winograd makes stride-1 3×3 convolutions on the AVX-512 target use
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
// by channels. So: output maps of at least 8×8. --disable winograd turns
// it off.
func Winograd(g *ir.Graph, t Target) error {
	if t != AVX512 {
		return nil // kernels exist for AVX-512 only
	}
	for _, op := range g.Ops {
		if !winogradFits(op) {
			continue
		}
		k := op.Param("kernel")
		op.Params["kernel"] = g.Weights.Compute(ir.WPack, []*ir.Weight{k.Args[0]}, 0, "wino16", nil)
	}
	g.Weights.RemoveUnused(g)
	return nil
}

func winogradFits(op *ir.Op) bool {
	a := op.Attrs
	if op.Kind != ir.Conv2D || a.Kernel != [2]int{3, 3} || a.Strides != [2]int{1, 1} || max(a.Pad[0], a.Pad[1], a.Pad[2], a.Pad[3]) > 2 {
		return false
	}
	out := op.Out().Type
	if op.Inputs[0].Type.Layout != ir.NCHW16c || out.Layout != ir.NCHW16c || min(out.H(), out.W()) < 8 {
		return false
	}
	k := op.Param("kernel")
	return k != nil && k.Op == ir.WPack && k.Layout == "OIhw16i16o"
}
