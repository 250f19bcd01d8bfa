package ir

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// The diff of two graphs' ops (rnc ir --diff): the ops of one selection
// (a residual block, or the whole model) of each graph, aligned by the part
// they play. Two ops can pair only if they are of the same kind; among the
// alignments that keep both graphs' op order, AlignOps picks the one of
// highest score, where a pair scores 1, plus up to 8 for the layer-name
// roles the two ops share (the names less the block prefix: "_1_conv",
// "_preact_bn", "_out"), plus 1 when their attributes, weights and types
// are equal. That is a weighted longest common subsequence over the op
// kinds, computed by dynamic programming in O(len(a)·len(b)).

// DiffMark says how a row of a diff relates its two sides.
type DiffMark byte

// The marks, as printed between the two columns.
const (
	DiffSame    DiffMark = '|' // paired, nothing but value numbers differs
	DiffChanged DiffMark = '~' // paired, attributes, weights, types, names or inputs differ
	DiffRemoved DiffMark = '-' // only in the first graph
	DiffAdded   DiffMark = '+' // only in the second graph
)

// DiffRow is one row of a diff: a pair of ops, or an op of one side.
type DiffRow struct {
	A, B *Op
	Mark DiffMark
	// Changes names what differs in a changed pair: "kind", "names",
	// "inputs", an attribute ("pad", "epi"), a weight role ("bias"),
	// "type".
	Changes []string
}

// Diff is the alignment of two graphs' selected ops.
type Diff struct {
	A, B *Graph
	// Block is the layer-name prefix the ops were selected by ("" for
	// all); it is stripped from names to find the ops' roles.
	Block string
	Rows  []DiffRow
}

// MaxAlignCells bounds len(a)·len(b) of AlignOps (the table it fills).
const MaxAlignCells = 1 << 24

// InBlock reports whether the layer name name belongs to the residual
// block block: it is block or starts with block + "_".
func InBlock(name, block string) bool {
	return strings.HasPrefix(name, block) && (len(name) == len(block) || name[len(block)] == '_')
}

// BlockFilter selects the ops of the residual block block: those with a
// layer name InBlock (fused ops have several). It is nil, selecting every
// op, for block "".
func BlockFilter(block string) func(*Op) bool {
	if block == "" {
		return nil
	}
	return func(op *Op) bool {
		return slices.ContainsFunc(op.Names, func(n string) bool { return InBlock(n, block) })
	}
}

// AlignOps aligns the ops of a and b in the residual block block
// (BlockFilter; all for ""). Removed and added ops between two pairs are
// listed removed first.
func AlignOps(a, b *Graph, block string) (*Diff, error) {
	filter := BlockFilter(block)
	sel := func(g *Graph) []*Op {
		var ops []*Op
		for _, op := range g.Ops {
			if filter == nil || filter(op) {
				ops = append(ops, op)
			}
		}
		return ops
	}
	xs, ys := sel(a), sel(b)
	n, m := len(xs), len(ys)
	if n*m > MaxAlignCells || n > MaxAlignCells || m > MaxAlignCells {
		return nil, fmt.Errorf("aligning %d ops with %d ops is over the limit of %d pairs: select a block", n, m, MaxAlignCells)
	}
	d := &Diff{A: a, B: b, Block: block}
	type side struct {
		roles []string
		sig   string
	}
	info := func(ops []*Op) []side {
		s := make([]side, len(ops))
		for i, op := range ops {
			s[i] = side{roles: d.roles(op), sig: strings.Join(signature(op), "\n")}
		}
		return s
	}
	xi, yi := info(xs), info(ys)
	score := func(i, j int) int32 {
		x, y := xs[i], ys[j]
		if x.Kind != y.Kind || len(x.Outputs) == 0 || len(y.Outputs) == 0 {
			return 0
		}
		s := 1 + int32(16*common(xi[i].roles, yi[j].roles)/(len(xi[i].roles)+len(yi[j].roles)))
		if xi[i].sig == yi[j].sig {
			s++
		}
		return s
	}
	// f[i*(m+1)+j]: the best score aligning xs[:i] with ys[:j].
	f := make([]int32, (n+1)*(m+1))
	at := func(i, j int) *int32 { return &f[i*(m+1)+j] }
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			best := max(*at(i-1, j), *at(i, j-1))
			if s := score(i-1, j-1); s > 0 {
				best = max(best, *at(i-1, j-1)+s)
			}
			*at(i, j) = best
		}
	}
	var rows []DiffRow // backwards
	i, j := n, m
	for i > 0 || j > 0 {
		switch {
		case i > 0 && j > 0 && score(i-1, j-1) > 0 && *at(i, j) == *at(i-1, j-1)+score(i-1, j-1):
			rows = append(rows, DiffRow{A: xs[i-1], B: ys[j-1]})
			i, j = i-1, j-1
		case j > 0 && (i == 0 || *at(i, j) == *at(i, j-1)):
			rows = append(rows, DiffRow{B: ys[j-1], Mark: DiffAdded})
			j--
		default:
			rows = append(rows, DiffRow{A: xs[i-1], Mark: DiffRemoved})
			i--
		}
	}
	slices.Reverse(rows)
	// Between two pairs, removed ops first, then added ones.
	for k := 0; k < len(rows); {
		e := k
		for e < len(rows) && rows[e].Mark != 0 {
			e++
		}
		slices.SortStableFunc(rows[k:e], func(p, q DiffRow) int { return int(q.Mark) - int(p.Mark) }) // '-' > '+'
		k = e + 1
	}
	d.Rows = rows
	pair := map[*Op]*Op{}
	for _, r := range rows {
		if r.A != nil && r.B != nil {
			pair[r.A] = r.B
		}
	}
	for k := range d.Rows {
		r := &d.Rows[k]
		if r.Mark != 0 {
			continue
		}
		r.Changes = d.changes(r.A, r.B, pair, filter)
		r.Mark = DiffSame
		if len(r.Changes) > 0 {
			r.Mark = DiffChanged
		}
	}
	return d, nil
}

// roles are an op's layer names less the block prefix.
func (d *Diff) roles(op *Op) []string {
	r := make([]string, len(op.Names))
	for i, n := range op.Names {
		if d.Block != "" && InBlock(n, d.Block) {
			n = n[len(d.Block):]
		}
		r[i] = n
	}
	return r
}

// common counts the elements of a that are also in b.
func common(a, b []string) int {
	n := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			n++
		}
	}
	return n
}

var valueRef = regexp.MustCompile(`[%$][0-9]+`)

// signature lists what the diff compares of an op besides its names and
// inputs, one "key=value" string each: kind, attributes, weights (a
// weight file tensor of the op's own layer as "layer", a computed one as
// "$"), output types. Value and weight numbers differ between two graphs
// for no reason, so they are blanked; so is the arena.
func signature(op *Op) []string {
	s := []string{"kind=" + op.Kind.String()}
	info := op.Kind.Info()
	for _, a := range info.Attrs {
		if v, ok := attrCodecs[a].print(op); ok {
			s = append(s, a+"="+valueRef.ReplaceAllStringFunc(v, func(r string) string { return r[:1] }))
		}
	}
	for _, p := range info.Params {
		if w := op.Params[p.Role]; w != nil {
			v := w.Name
			if strings.HasPrefix(v, "$") {
				v = "$"
			} else if ownWeight(op, w, p.Role) {
				v = "layer"
			}
			s = append(s, p.Role+"="+v)
		}
	}
	var types []string
	for _, o := range op.Outputs {
		types = append(types, o.Type.String())
	}
	return append(s, "type="+strings.Join(types, ", "))
}

// ownWeight reports whether w is the weight file's tensor for role of one
// of op's layers ("conv1_conv/kernel" of conv1_conv).
func ownWeight(op *Op, w *Weight, role string) bool {
	layer, r, ok := strings.Cut(w.Name, "/")
	return ok && r == role && slices.Contains(op.Names, layer)
}

// changes lists what differs between the paired ops x and y.
func (d *Diff) changes(x, y *Op, pair map[*Op]*Op, selected func(*Op) bool) []string {
	var c []string
	if !slices.Equal(d.roles(x), d.roles(y)) {
		c = append(c, "names")
	}
	in := len(x.Inputs) != len(y.Inputs)
	for k := 0; !in && k < len(x.Inputs); k++ {
		p, q := x.Inputs[k].Def, y.Inputs[k].Def
		pin, qin := selected == nil || selected(p), selected == nil || selected(q)
		switch {
		case pin && qin:
			in = pair[p] != q || outIndex(p, x.Inputs[k]) != outIndex(q, y.Inputs[k])
		case pin != qin:
			in = true
		default: // both outside the selection: the same layer?
			in = p.Name() != q.Name() || outIndex(p, x.Inputs[k]) != outIndex(q, y.Inputs[k])
		}
	}
	if in {
		c = append(c, "inputs")
	}
	sx, sy := signature(x), signature(y)
	keys := func(s []string) []string {
		k := make([]string, len(s))
		for i, kv := range s {
			k[i], _, _ = strings.Cut(kv, "=")
		}
		return k
	}
	kx, ky := keys(sx), keys(sy)
	for i, k := range kx {
		if j := slices.Index(ky, k); j < 0 || sy[j] != sx[i] {
			c = append(c, k)
		}
	}
	for _, k := range ky {
		if !slices.Contains(kx, k) {
			c = append(c, k)
		}
	}
	return c
}

func outIndex(op *Op, v *Value) int { return slices.Index(op.Outputs, v) }

// DiffText is an op's line in a diff: its text form (FormatOp), but a
// weight file tensor of the op's own layer shows as its role only
// ("kernel,bias" for kernel=conv1_conv/kernel bias=conv1_conv/bias).
func DiffText(op *Op) string { return strings.ReplaceAll(diffText(op), nbsp, " ") }

// diffText is DiffText with the spaces wrap must not break at as nbsp.
func diffText(op *Op) string {
	var b strings.Builder
	writeOpHead(&b, op)
	info := op.Kind.Info()
	var own []string
	for _, p := range info.Params {
		if w := op.Params[p.Role]; w != nil {
			if ownWeight(op, w, p.Role) {
				own = append(own, p.Role)
			} else {
				b.WriteString(" " + p.Role + "=" + w.Name)
			}
		}
	}
	if len(own) > 0 {
		b.WriteString(" " + strings.Join(own, ","))
	}
	// A type is not broken across lines, nor parted from its ':' or ','.
	sep := " :" + nbsp
	for _, o := range op.Outputs {
		b.WriteString(sep + strings.ReplaceAll(o.Type.String(), " ", nbsp))
		if o.Mem.Size > 0 {
			fmt.Fprintf(&b, " @arena[%d:%d]", o.Mem.Offset, o.Mem.End())
		}
		sep = "," + nbsp
	}
	return b.String()
}

// nbsp is a space wrap does not break at (a byte a text form never has).
const nbsp = "\x00"

// Counts returns how many rows have each mark.
func (d *Diff) Counts() map[DiffMark]int {
	c := map[DiffMark]int{}
	for _, r := range d.Rows {
		c[r.Mark]++
	}
	return c
}

// MinDiffWidth is the narrowest line WriteText lays two columns out in.
const MinDiffWidth = 40

// WriteText prints the diff in two columns headed an and bn (clipped to
// the column, keeping their ends), in lines of
// at most width characters (each column (width-3)/2; an op wraps onto
// lines indented by 4, breaking at a space, else after a '+' or ',').
// Between the columns, each line carries its row's mark; a changed pair
// ends with a line naming what differs. The last line counts the rows.
func (d *Diff) WriteText(w io.Writer, an, bn string, width int) error {
	width = max(width, MinDiffWidth)
	col := (width - 3) / 2
	var b strings.Builder
	line := func(l string, mark DiffMark, r string) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%-*s %c %s", col, l, mark, r), " "))
		b.WriteByte('\n')
	}
	clip := func(s string) string { // a long path keeps its end
		if len(s) > col {
			return "..." + s[len(s)-col+3:]
		}
		return s
	}
	line(clip(an), '|', clip(bn))
	b.WriteString(strings.Repeat("-", col+1) + "+" + strings.Repeat("-", col+1) + "\n")
	for _, r := range d.Rows {
		var l, rt []string
		if r.A != nil {
			l = wrap(diffText(r.A), col)
		}
		if r.B != nil {
			rt = wrap(diffText(r.B), col)
		}
		if r.Mark == DiffChanged {
			rt = append(rt, wrap("    differs: "+strings.Join(r.Changes, ", "), col)...)
		}
		for k := range max(len(l), len(rt)) {
			var x, y string
			if k < len(l) {
				x = l[k]
			}
			if k < len(rt) {
				y = rt[k]
			}
			line(x, r.Mark, y)
		}
	}
	c := d.Counts()
	for _, l := range wrap(fmt.Sprintf("%d same, %d changed (~), %d removed (-), %d added (+)", c[DiffSame], c[DiffChanged], c[DiffRemoved], c[DiffAdded]), width) {
		b.WriteString(l + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap cuts s into lines of at most width characters, continuation lines
// indented by 4: at the last space that fits, or after the last '+' or ','
// that fits if that space is in the first half of the line, else at width.
func wrap(s string, width int) []string {
	const indent = "    "
	var lines []string
	for len(s) > width {
		cut := strings.LastIndexByte(s[:width+1], ' ')
		if cut < width/2 { // a long name: break inside it instead
			cut = max(cut, strings.LastIndexAny(s[:width], "+,")+1)
		}
		if cut <= len(indent) {
			cut = width
		}
		lines = append(lines, strings.ReplaceAll(strings.TrimRight(s[:cut], " "), nbsp, " "))
		s = indent + strings.TrimLeft(s[cut:], " ")
	}
	return append(lines, strings.ReplaceAll(s, nbsp, " "))
}
