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
	writeDOTOps(&b, g, filter, "  ", "op", "v", nil)
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDOTOps writes the nodes and edges of g's selected ops, each line
// indented by indent; op and value node ids start with opID and valID.
// style, when non-nil, adds attributes (and label lines) to an op's node.
func writeDOTOps(b *strings.Builder, g *Graph, filter func(*Op) bool, indent, opID, valID string, style func(*Op) (attrs, extra string)) {
	shown := map[*Op]bool{}
	for _, op := range g.Ops {
		if filter == nil || filter(op) {
			shown[op] = true
		}
	}
	id := func(op *Op) string { return fmt.Sprintf("%s%d", opID, op.Outputs[0].ID) }
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
		attrs := ""
		if style != nil {
			a, extra := style(op)
			if extra != "" {
				label += "\n" + extra
			}
			if a != "" {
				attrs = ", " + a
			}
		}
		fmt.Fprintf(b, "%s%s [label=%q%s];\n", indent, id(op), label, attrs)
		for _, in := range op.Inputs {
			if shown[in.Def] {
				fmt.Fprintf(b, "%s%s -> %s [label=%q];\n", indent, id(in.Def), id(op), in.Name())
				continue
			}
			if !external[in] {
				external[in] = true
				fmt.Fprintf(b, "%s%s%d [shape=ellipse, label=%q];\n", indent, valID, in.ID, in.Name()+" "+in.Def.Name())
			}
			fmt.Fprintf(b, "%s%s%d -> %s;\n", indent, valID, in.ID, id(op))
		}
	}
}

// Fill colors of the ops of a diff drawn as DOT.
var diffColors = map[DiffMark]string{DiffRemoved: "#f4cccc", DiffAdded: "#d9ead3", DiffChanged: "#fff2cc"}

// WriteDiffDOT draws a diff as a Graphviz digraph: the selected ops of
// d.A (named an) and d.B (named bn) as two clusters, side by side; each
// pair of ops on one rank, joined by a dashed edge. Removed ops are red,
// added ones green, changed ones yellow, their label naming what differs.
func WriteDiffDOT(w io.Writer, d *Diff, an, bn string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph \"diff\" {\n  rankdir=TB;\n  newrank=true;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n")
	fmt.Fprintf(&b, "  label=%q;\n", "red: only in "+an+"; green: only in "+bn+"; yellow: changed; dashed: paired")
	for k, side := range []struct {
		name string
		g    *Graph
		op   func(DiffRow) *Op
	}{{an, d.A, func(r DiffRow) *Op { return r.A }}, {bn, d.B, func(r DiffRow) *Op { return r.B }}} {
		rows := map[*Op]DiffRow{}
		for _, r := range d.Rows {
			if op := side.op(r); op != nil {
				rows[op] = r
			}
		}
		style := func(op *Op) (string, string) {
			r := rows[op]
			c, ok := diffColors[r.Mark]
			if !ok {
				return "", ""
			}
			extra := ""
			if r.Mark == DiffChanged {
				extra = "differs: " + strings.Join(r.Changes, ", ")
			}
			return fmt.Sprintf("style=filled, fillcolor=%q", c), extra
		}
		p := string(rune('a' + k))
		fmt.Fprintf(&b, "  subgraph cluster_%s {\n    label=%q;\n", p, side.name)
		writeDOTOps(&b, side.g, func(op *Op) bool { _, ok := rows[op]; return ok }, "    ", p+"op", p+"v", style)
		b.WriteString("  }\n")
	}
	for _, r := range d.Rows {
		if r.A == nil || r.B == nil {
			continue
		}
		x, y := fmt.Sprintf("aop%d", r.A.Outputs[0].ID), fmt.Sprintf("bop%d", r.B.Outputs[0].ID)
		fmt.Fprintf(&b, "  { rank=same; %s; %s; }\n  %s -> %s [style=dashed, color=gray, dir=none, constraint=false];\n", x, y, x, y)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
