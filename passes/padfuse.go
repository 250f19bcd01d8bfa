package passes

import "github.com/rnc-dev/rnc/ir"

// PadFuse folds ZeroPadding2D into its readers: a Conv2D reading the padded
// map as its main input gets the pads added to its own (asymmetric pads
// included); a MaxPooling2D without padding of its own gets them as zero
// padding (padzero: padded positions count as 0, not as -inf — ResNetV2's
// pool1 input can be negative). Readers of other kinds keep reading the pad,
// which then stays. A pad whose value is not zero never folds.
func PadFuse(g *ir.Graph) error {
	uses := g.Uses()
	dead := map[*ir.Op]bool{}
	for _, pad := range g.Ops {
		if pad.Kind != ir.ZeroPad || pad.Attrs.PadValue != 0 {
			continue
		}
		y := pad.Out()
		folded := 0
		var first *ir.Op
		for _, r := range uses[y] {
			if !padFoldable(r, y) {
				continue
			}
			for i := range r.Attrs.Pad {
				r.Attrs.Pad[i] += pad.Attrs.Pad[i]
			}
			if r.Kind == ir.MaxPool {
				r.Attrs.PadZero = true
			}
			r.Inputs[0] = pad.Inputs[0]
			if first == nil {
				first = r
			}
			folded++
		}
		if folded == len(uses[y]) && folded > 0 && !g.IsOutput(y) {
			first.Names = append(append([]string(nil), pad.Names...), first.Names...)
			dead[pad] = true
		}
	}
	removeOps(g, dead)
	return nil
}

func padFoldable(r *ir.Op, y *ir.Value) bool {
	if r.Inputs[0] != y {
		return false
	}
	for _, in := range r.Inputs[1:] {
		if in == y {
			return false
		}
	}
	switch r.Kind {
	case ir.Conv2D:
		return true
	case ir.MaxPool:
		return r.Attrs.PadZero || r.Attrs.Pad == [4]int{}
	}
	return false
}
