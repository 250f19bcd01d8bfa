package ir

import (
	"fmt"
	"io"
	"strings"
)

// WriteDOT writes g as a Graphviz digraph: one box per op (names, kind,
// output types), one edge per input. filter, when non-nil, selects ops;
// edges from unselected ops are drawn from a small ellipse naming the value.
func WriteDOT(w io.Writer, g *Graph, filter func(*Op) bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", g.Name)
	shown := map[*Op]bool{}
	for _, op := range g.Ops {
		if filter == nil || filter(op) {
			shown[op] = true
		}
	}
	id := func(op *Op) string { return fmt.Sprintf("op%d", op.Outputs[0].ID) }
	external := map[*Value]bool{}
	for _, op := range g.Ops {
		if !shown[op] {
			continue
		}
		var types []string
		for _, o := range op.Outputs {
			types = append(types, o.Name()+" "+o.Type.String())
		}
		label := strings.Join(op.Names, "\n") + "\n" + op.Kind.String() + "\n" + strings.Join(types, "\n")
		fmt.Fprintf(&b, "  %s [label=%q];\n", id(op), label)
		for _, in := range op.Inputs {
			if shown[in.Def] {
				fmt.Fprintf(&b, "  %s -> %s [label=%q];\n", id(in.Def), id(op), in.Name())
				continue
			}
			if !external[in] {
				external[in] = true
				fmt.Fprintf(&b, "  v%d [shape=ellipse, label=%q];\n", in.ID, in.Name()+" "+in.Def.Name())
			}
			fmt.Fprintf(&b, "  v%d -> %s;\n", in.ID, id(op))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
