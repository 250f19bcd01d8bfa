package passes

import (
	"fmt"

	"github.com/rnc-dev/rnc/ir"
)

// Layout chooses every value's layout and packs the weights to match. The
// rule (ONNX Runtime's NCHWc transformer and oneDNN's, simplified, since rnc
// has no kernel that prefers another layout):
//   - feature maps are stored in the target's blocked layout, NCHW16c for
//     AVX-512 and NCHW8c for AVX2 and the portable kernels; channel counts
//     that are not multiples of the block are padded with zero channels;
//   - the graph's input stays NHWC (Keras's layout, what users pass), and a
//     Conv2D reading an NHWC map with no more channels than a block (the
//     3-channel stem) reads it directly, with its kernel packed Ohwi16o;
//   - vectors (after global pooling, Dense) are nc; Flatten reads nhwc, and
//     feature-map outputs of the graph are returned nhwc;
//   - blocked convs get OIhw16i16o kernels; biases and per-channel scales and
//     shifts are padded to the block (c16).
//
// A Reorder is inserted only where a value's layout differs from what its
// reader needs; for the ResNets there is none between the stem and the head.
func Layout(g *ir.Graph, t Target) error {
	blocked := t.Layout()
	b := t.Block()
	// 1. Each op's output layout.
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			switch {
			case op.Kind == ir.Input:
			case len(o.Type.Dims) == 1:
				o.Type.Layout = ir.NC
			case op.Kind == ir.Dense: // a Dense on a feature map works per pixel, in Keras's order
				o.Type.Layout = ir.NHWC
			default:
				o.Type.Layout = blocked
			}
		}
	}
	// 2. Each input in the layout its reader needs, through (shared) reorders.
	reorders := map[*ir.Value]map[ir.Layout]*ir.Value{}
	var out []*ir.Op
	convert := func(v *ir.Value, l ir.Layout) *ir.Value {
		if v.Type.Layout == l {
			return v
		}
		if r := reorders[v][l]; r != nil {
			return r
		}
		op := &ir.Op{Kind: ir.Reorder, Names: []string{fmt.Sprintf("%s_to_%s", v.Def.Names[len(v.Def.Names)-1], l)}, Inputs: []*ir.Value{v}}
		typ := v.Type
		typ.Dims = append([]int(nil), typ.Dims...)
		typ.Layout = l
		r := g.NewValue(typ, op)
		op.Outputs = []*ir.Value{r}
		out = append(out, op)
		if reorders[v] == nil {
			reorders[v] = map[ir.Layout]*ir.Value{}
		}
		reorders[v][l] = r
		return r
	}
	for _, op := range g.Ops {
		ol := op.Outputs[0].Type.Layout
		for i, in := range op.Inputs {
			want := ol
			switch op.Kind {
			case ir.Conv2D:
				if i == 0 && in.Type.Layout == ir.NHWC && in.Type.C() <= b {
					want = ir.NHWC
				}
			case ir.GlobalAvgPool, ir.GlobalMaxPool:
				want = in.Type.Layout
			case ir.Dense, ir.Flatten:
				want = ir.NHWC
				if len(in.Type.Dims) == 1 {
					want = ir.NC
				}
			}
			op.Inputs[i] = convert(in, want)
		}
		out = append(out, op)
		packWeights(g, op, t)
	}
	g.Ops = out
	// 3. Feature maps leave the graph in Keras's layout.
	for i, o := range g.Outputs {
		if len(o.Type.Dims) == 3 && o.Type.Layout != ir.NHWC {
			r := convert(o, ir.NHWC)
			g.Ops = append(g.Ops, r.Def)
			g.Outputs[i] = r
		}
	}
	g.Weights.RemoveUnused(g)
	return nil
}

// GroupsInBlocks is the number of groups a conv of g groups, cin input and
// cout output channels runs in on maps of channel block b: the largest
// divisor of g whose groups hold whole blocks of input and of output
// channels (1: dense). ResNeXt's 32 groups of 4 channels run as 8 groups
// of 16 (each a 16-channel block, four 4-channel groups on its diagonal).
func GroupsInBlocks(g, cin, cout, b int) int {
	for t := g; t > 1; t-- {
		if g%t == 0 && cin%t == 0 && cout%t == 0 && (cin/t)%b == 0 && (cout/t)%b == 0 {
			return t
		}
	}
	return 1
}

// packWeights packs op's weights for the layouts of its input and output.
func packWeights(g *ir.Graph, op *ir.Op, t Target) {
	w := g.Weights
	b := t.Block()
	pack := func(x *ir.Weight, layout string) *ir.Weight {
		if x == nil || x.Op == ir.WPack {
			return x
		}
		return w.Compute(ir.WPack, []*ir.Weight{x}, 0, layout, nil)
	}
	vec := fmt.Sprintf("c%d", b)
	ol := op.Outputs[0].Type.Layout
	switch op.Kind {
	case ir.Conv2D:
		if gr := op.Attrs.G(); gr > 1 {
			// A grouped conv runs in the most groups whose channels fill
			// whole blocks (groups narrower than a block merge, their
			// kernel block-diagonal): each such group is a dense conv the
			// kernels take, on its own blocks (runtime: Step.Groups).
			in := op.Inputs[0].Type
			if in.Layout.Block() == b && ir.NarrowGroups(gr, in.C(), op.Attrs.Filters, b) > 0 {
				// Groups of 1, 2 or 4 channels run as they are, their
				// kernel [kh, kw, cin/g, cout] packed Ohwi: each output
				// lane reads its own group's lanes of its block (the
				// kernels shuffle within 4 lanes), with no zeros.
				op.Params["kernel"] = pack(op.Param("kernel"), fmt.Sprintf("Ohwi%do", b))
				if op.Param("bias") != nil {
					op.Params["bias"] = pack(op.Param("bias"), vec)
				}
				return
			}
			to := 1
			if in.Layout.Block() == b {
				to = GroupsInBlocks(gr, in.C(), op.Attrs.Filters, b)
			}
			if to != gr {
				op.Params["kernel"] = w.GroupExpand(op.Param("kernel"), gr, to)
			}
			op.Attrs.Groups = to
			if to == 1 {
				op.Attrs.Groups = 0
			}
		}
		if op.Inputs[0].Type.Layout == ir.NHWC {
			op.Params["kernel"] = pack(op.Param("kernel"), fmt.Sprintf("Ohwi%do", b))
		} else {
			op.Params["kernel"] = pack(op.Param("kernel"), fmt.Sprintf("OIhw%di%do", b, b))
		}
		if op.Param("bias") != nil {
			op.Params["bias"] = pack(op.Param("bias"), vec)
		}
	case ir.Affine, ir.BatchNorm:
		if ol.Block() == 0 {
			return
		}
		for _, p := range op.Kind.Info().Params { // table order: deterministic weight numbering
			op.Params[p.Role] = pack(op.Param(p.Role), vec)
		}
	case ir.Dense:
		op.Params["kernel"] = pack(op.Param("kernel"), fmt.Sprintf("OI%do", b))
		if op.Param("bias") != nil {
			op.Params["bias"] = pack(op.Param("bias"), vec)
		}
	}
}
