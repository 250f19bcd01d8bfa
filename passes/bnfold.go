package passes

import "github.com/rnc-dev/rnc/ir"

// BNFold removes every BatchNormalization:
//   - Conv2D → BN (the conv's output read only by the BN) becomes one conv:
//     kernel·s and bias·s + t, with s = gamma/sqrt(var+eps) and
//     t = beta - mean·s (Dense → BN with a linear Dense likewise);
//   - BN → Conv2D (the BN read only by a conv without padding, so that no
//     padded zero sees the shift): the conv's kernel rows are scaled by s and
//     its bias gains kernel·t;
//   - any other BN — the pre-activation BN of a V2 block, whose input is
//     also the identity shortcut — becomes an Affine op (x·s + t per
//     channel), which fuse later turns into an epilogue step.
//
// The new weights are steps of the weight program: the compiler never needs
// the numbers.
func BNFold(g *ir.Graph) error {
	w := g.Weights
	dead := map[*ir.Op]bool{}
	uses := g.Uses()
	for _, bn := range g.Ops {
		if bn.Kind != ir.BatchNorm {
			continue
		}
		x := bn.Inputs[0]
		p := x.Def
		foldable := soleUse(g, uses, x, bn) && !dead[p] &&
			((p.Kind == ir.Conv2D && len(p.Attrs.Epi) == 0) || (p.Kind == ir.Dense && p.Attrs.Act == ""))
		if foldable {
			s, t := bnParams(g, bn)
			p.Params["kernel"] = w.Compute(ir.WScaleOut, []*ir.Weight{p.Param("kernel"), s}, 0, "", nil)
			if b := p.Param("bias"); b != nil {
				p.Params["bias"] = w.Compute(ir.WAffine, []*ir.Weight{b, s, t}, 0, "", nil)
			} else {
				p.Params["bias"] = t
			}
			p.Names = append(p.Names, bn.Names...)
			p.Outputs[0].Type = bn.Out().Type
			g.ReplaceUses(bn.Out(), x)
			dead[bn] = true
			continue
		}
		y := bn.Out()
		if c := forwardTarget(g, uses, bn); c != nil {
			s, t := bnParams(g, bn)
			k := c.Param("kernel")
			b := c.Param("bias")
			if b == nil {
				b = w.Compute(ir.WZeros, nil, 0, "", []int{c.Attrs.Filters})
			}
			c.Params["bias"] = w.Compute(ir.WMatVecAdd, []*ir.Weight{k, t, b}, 0, "", nil)
			c.Params["kernel"] = w.Compute(ir.WScaleIn, []*ir.Weight{k, s}, 0, "", nil)
			c.Names = append(bn.Names, c.Names...)
			g.ReplaceUses(y, x)
			dead[bn] = true
			continue
		}
		s, t := bnParams(g, bn)
		bn.Kind = ir.Affine
		bn.Attrs = ir.Attrs{}
		bn.Params = map[string]*ir.Weight{"scale": s, "shift": t}
	}
	removeOps(g, dead)
	g.Weights.RemoveUnused(g)
	return nil
}

// forwardTarget returns the conv a BN can fold into forward: the BN's only
// reader, reading it as its main input, with no padding and no epilogue.
func forwardTarget(g *ir.Graph, uses map[*ir.Value][]*ir.Op, bn *ir.Op) *ir.Op {
	y := bn.Out()
	u := uses[y]
	if len(u) != 1 || g.IsOutput(y) {
		return nil
	}
	c := u[0]
	if c.Kind != ir.Conv2D || len(c.Inputs) != 1 || c.Inputs[0] != y || len(c.Attrs.Epi) != 0 || c.Attrs.Pad != [4]int{} || c.Attrs.G() > 1 {
		return nil
	}
	return c
}
