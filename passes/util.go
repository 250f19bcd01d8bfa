package passes

import "github.com/rnc-dev/rnc/ir"

// soleUse reports whether v's only reader is op (once) and v is not a
// graph output.
func soleUse(g *ir.Graph, uses map[*ir.Value][]*ir.Op, v *ir.Value, op *ir.Op) bool {
	u := uses[v]
	return len(u) == 1 && u[0] == op && !g.IsOutput(v)
}

// removeOps deletes the given ops from g.
func removeOps(g *ir.Graph, dead map[*ir.Op]bool) {
	kept := g.Ops[:0]
	for _, op := range g.Ops {
		if !dead[op] {
			kept = append(kept, op)
		}
	}
	for i := len(kept); i < len(g.Ops); i++ {
		g.Ops[i] = nil
	}
	g.Ops = kept
}

// bnParams records, for a BatchNormalization op, the per-channel scale
// gamma/sqrt(var+eps) and shift beta - mean*scale as weight-program steps.
func bnParams(g *ir.Graph, bn *ir.Op) (scale, shift *ir.Weight) {
	w := g.Weights
	scale = w.Compute(ir.WBNScale, []*ir.Weight{bn.Param("gamma"), bn.Param("moving_variance")}, bn.Attrs.Eps, "", nil)
	shift = w.Compute(ir.WBNShift, []*ir.Weight{bn.Param("beta"), bn.Param("moving_mean"), scale}, 0, "", nil)
	return scale, shift
}

// topoSort reorders g.Ops so that every op follows the producers of its
// inputs, keeping the existing order wherever it is already valid.
func topoSort(g *ir.Graph) {
	pos := map[*ir.Op]int{}
	for i, op := range g.Ops {
		pos[op] = i
	}
	indeg := map[*ir.Op]int{}
	readers := map[*ir.Op][]*ir.Op{}
	for _, op := range g.Ops {
		seen := map[*ir.Op]bool{}
		for _, in := range op.Inputs {
			if p := in.Def; !seen[p] {
				seen[p] = true
				indeg[op]++
				readers[p] = append(readers[p], op)
			}
		}
	}
	// Kahn's algorithm, always taking the ready op that came first.
	var ready []*ir.Op
	push := func(op *ir.Op) {
		i := len(ready)
		ready = append(ready, op)
		for i > 0 && pos[ready[i-1]] > pos[op] {
			ready[i] = ready[i-1]
			i--
		}
		ready[i] = op
	}
	for _, op := range g.Ops {
		if indeg[op] == 0 {
			push(op)
		}
	}
	out := make([]*ir.Op, 0, len(g.Ops))
	for len(ready) > 0 {
		op := ready[0]
		ready = ready[1:]
		out = append(out, op)
		for _, r := range readers[op] {
			indeg[r]--
			if indeg[r] == 0 {
				push(r)
			}
		}
	}
	if len(out) != len(g.Ops) {
		panic("topoSort: the graph has a cycle")
	}
	g.Ops = out
}
