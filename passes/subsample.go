package passes

import "github.com/rnc-dev/rnc/ir"

// Subsample removes MaxPooling2D(1, strides s) — ResNetV2's shortcut of a
// strided block, which only picks every s-th pixel — by making its readers
// read its input at stride s: an Add or Multiply gets a per-input read
// stride (sub), a 1×1 unpadded Conv2D multiplies its own strides. Readers of
// other kinds keep the pool.
func Subsample(g *ir.Graph) error {
	uses := g.Uses()
	dead := map[*ir.Op]bool{}
	for _, mp := range g.Ops {
		a := mp.Attrs
		if mp.Kind != ir.MaxPool || a.Kernel != [2]int{1, 1} || a.Pad != [4]int{} || a.Strides[0] != a.Strides[1] || a.Strides[0] < 1 {
			continue
		}
		s := a.Strides[0]
		y, x := mp.Out(), mp.Inputs[0]
		folded := 0
		var first *ir.Op
		for _, r := range uses[y] {
			if !subsampleInto(r, y, x, s) {
				continue
			}
			if first == nil {
				first = r
			}
			folded++
		}
		if folded == len(uses[y]) && folded > 0 && !g.IsOutput(y) {
			first.Names = append(append([]string(nil), mp.Names...), first.Names...)
			dead[mp] = true
		}
	}
	removeOps(g, dead)
	return nil
}

// subsampleInto rewrites r to read x at stride s where it read y; it
// reports whether it could.
func subsampleInto(r *ir.Op, y, x *ir.Value, s int) bool {
	switch r.Kind {
	case ir.Add, ir.Multiply:
		if len(r.Attrs.Sub) == 0 {
			r.Attrs.Sub = make([]int, len(r.Inputs))
			for i := range r.Attrs.Sub {
				r.Attrs.Sub[i] = 1
			}
		}
		for i, in := range r.Inputs {
			if in == y {
				r.Inputs[i] = x
				r.Attrs.Sub[i] *= s
			}
		}
		return true
	case ir.Conv2D:
		a := &r.Attrs
		if r.Inputs[0] != y || a.Kernel != [2]int{1, 1} || a.Pad != [4]int{} {
			return false
		}
		for _, in := range r.Inputs[1:] {
			if in == y {
				return false
			}
		}
		r.Inputs[0] = x
		a.Strides[0] *= s
		a.Strides[1] *= s
		return true
	}
	return false
}
